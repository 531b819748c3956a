-- DescribeImages, DescribeImageFromFamily, DescribeImageSupportInstanceTypes, DescribeInstanceTypes
local args = require "emu.args"
local describe = require("emu.describe").describe
local images = require "emu.model.images"
local respond = require "emu.respond"
local util = require "emu.util"

local fail = respond.fail
local A = {}

A.DescribeImages = describe {
  region = "required", list = "Images.Image", paging = "page", region_field = true,
  rows = function(_, p)
    local ids
    if p.ImageId then
      ids = {}
      for id in p.ImageId:gmatch("[^,]+") do ids[id] = true end
    end
    local items = {}
    for _, img in ipairs(images.public_images()) do
      local ok = true
      if ids and not ids[img[1]] then ok = false end
      if p.ImageName and p.ImageName ~= img[1] then ok = false end
      if p.OSType and p.OSType ~= img[3] then ok = false end
      if p.ImageFamily and p.ImageFamily ~= img[6] then ok = false end
      if p.ImageOwnerAlias and p.ImageOwnerAlias ~= "system" then ok = false end
      if p.Status and not p.Status:find("Available", 1, true) then ok = false end
      if ok then items[#items + 1] = images.view(img) end
    end
    return items
  end,
}

A.DescribeImageFromFamily = {
  run = function(ctx, p)
    args.region(ctx, p)
    local best = images.family_latest(p.ImageFamily)
    if not best then return { Image = {} } end
    return { Image = images.family_view(best) }
  end,
}

local function type_item(t)
  return { InstanceTypeId = t[1], InstanceTypeFamily = t[2], CpuCoreCount = t[3], MemorySize = t[4] }
end

A.DescribeImageSupportInstanceTypes = {
  run = function(ctx, p)
    local region = args.region(ctx, p)
    local img
    if p.ImageId then
      img = images.public(p.ImageId)
      if not img then fail(404, "InvalidImageId.NotFound", "The specified ImageId does not exist.") end
    end
    if p.Filter then
      for _, f in ipairs(p.Filter) do
        if f.Key and f.Key ~= "ImageId" then
          fail(400, "InvalidFilterKey.NotFound", "Invalid filter." .. f.Key)
        end
        if f.Key == "ImageId" and f.Value then
          img = images.public(f.Value)
          if not img then fail(404, "InvalidImageId.NotFound", "The specified ImageId does not exist.") end
        end
      end
    end
    local list = util.array()
    for _, t in ipairs(images.instance_types()) do
      if not img or images.supports(img, t) then list[#list + 1] = type_item(t) end
    end
    return { RegionId = region, ImageId = img and img[1] or nil, InstanceTypes = { InstanceType = list } }
  end,
}

A.DescribeInstanceTypes = describe {
  list = "InstanceTypes.InstanceType", paging = "token",
  rows = function(_, p)
    local want = p.InstanceTypes and args.set_of(p.InstanceTypes)
    local items = {}
    for _, t in ipairs(images.instance_types()) do
      local ok = (not want or want[t[1]]) and (not p.InstanceTypeFamily or p.InstanceTypeFamily == t[2])
      if p.MinimumCpuCoreCount and t[3] < p.MinimumCpuCoreCount then ok = false end
      if p.MaximumCpuCoreCount and t[3] > p.MaximumCpuCoreCount then ok = false end
      if p.MinimumMemorySize and t[4] < p.MinimumMemorySize then ok = false end
      if p.MaximumMemorySize and t[4] > p.MaximumMemorySize then ok = false end
      if ok then
        local item = type_item(t)
        item.InstanceFamilyLevel = "EnterpriseLevel"; item.GPUAmount = 0; item.GPUSpec = ""
        item.EniQuantity = 2; item.EniPrivateIpAddressQuantity = 6; item.LocalStorageCategory = ""
        item.InstanceCategory = "General-purpose"; item.CpuArchitecture = "X86"; item.PrimaryEniQueueNumber = 2
        items[#items + 1] = item
      end
    end
    return items
  end,
}

return A
