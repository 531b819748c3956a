-- DescribeImages, DescribeImageFromFamily, DescribeImageSupportInstanceTypes, DescribeInstanceTypes
local c = require "emu.actions.common"
local data = require "emu.data"

local fail = c.fail
local A = {}

local function image_item(img, region)
  return {
    ImageId = img[1], ImageName = img[1], OSName = img[2], OSNameEn = img[2], OSType = img[3],
    Platform = img[4], Size = img[5], ImageFamily = img[6], ImageOwnerAlias = "system",
    Architecture = "x86_64", Status = "Available", Progress = "100%", IsPublic = true,
    IsSelfShared = "", IsSubscribed = false, IsCopied = false, IsSupportCloudinit = true,
    IsSupportIoOptimized = true, Usage = "instance", CreationTime = "2024-01-30T00:00:00Z",
    Description = "", ProductCode = "", BootMode = "BIOS",
    DiskDeviceMappings = { DiskDeviceMapping = c.array() },
    Tags = { Tag = c.array() },
  }
end
A.image_item = image_item

A.DescribeImages = {
  required = { "RegionId" },
  run = function(ctx, p)
    local region = c.region(p)
    local ids = p.ImageId and c.set_of((function()
      local t = {}
      for id in p.ImageId:gmatch("[^,]+") do t[#t + 1] = id end
      return t
    end)())
    local items = {}
    for _, img in ipairs(data.images) do
      local ok = true
      if ids and not ids[img[1]] then ok = false end
      if p.ImageName and p.ImageName ~= img[1] then ok = false end
      if p.OSType and p.OSType ~= img[3] then ok = false end
      if p.ImageFamily and p.ImageFamily ~= img[6] then ok = false end
      if p.ImageOwnerAlias and p.ImageOwnerAlias ~= "system" then ok = false end
      if p.Status and not p.Status:find("Available", 1, true) then ok = false end
      if ok then items[#items + 1] = image_item(img, region) end
    end
    local page, meta = c.page(p, items)
    meta.RegionId = region
    meta.Images = { Image = page }
    return meta
  end,
}

A.DescribeImageFromFamily = {
  required = { "RegionId", "ImageFamily" },
  run = function(ctx, p)
    c.region(p)
    local best
    for _, fi in ipairs(data.family_images) do
      if fi[2] == p.ImageFamily and fi[4] == "Available" and (not best or fi[3] > best[3]) then best = fi end
    end
    if not best then return { Image = {} } end
    return { Image = {
      ImageId = best[1], ImageName = best[1], ImageFamily = best[2], CreationTime = best[3],
      Status = best[4], Progress = "100", IsCopied = false, IsSelfShared = "", IsSubscribed = false,
      IsSupportCloudinit = true, IsSupportIoOptimized = true, ImageOwnerAlias = "self",
      OSName = "Alibaba Cloud Linux  3.2104 LTS 64位", OSNameEn = "Alibaba Cloud Linux 3.2104 LTS 64 bit",
      OSType = "linux", Platform = "Aliyun", Architecture = "x86_64", Size = 20, Usage = "instance",
      Description = "", ProductCode = "",
      DiskDeviceMappings = { DiskDeviceMapping = c.array() }, Tags = { Tag = c.array() },
    } }
  end,
}

A.DescribeImageSupportInstanceTypes = {
  required = { "RegionId" },
  run = function(ctx, p)
    local region = c.region(p)
    local img
    if p.ImageId then
      img = data.image_set[p.ImageId]
      if not img then fail(404, "InvalidImageId.NotFound", "The specified ImageId does not exist.") end
    end
    if p.Filter then
      for _, f in ipairs(p.Filter) do
        if f.Key and f.Key ~= "ImageId" then
          fail(400, "InvalidFilterKey.NotFound", "Invalid filter." .. f.Key)
        end
        if f.Key == "ImageId" and f.Value then
          img = data.image_set[f.Value]
          if not img then fail(404, "InvalidImageId.NotFound", "The specified ImageId does not exist.") end
        end
      end
    end
    local list = c.array()
    for _, t in ipairs(data.instance_types) do
      if not img or data.image_supports(img, t) then
        list[#list + 1] = { InstanceTypeId = t[1], InstanceTypeFamily = t[2], CpuCoreCount = t[3],
          MemorySize = t[4] }
      end
    end
    return { RegionId = region, ImageId = img and img[1] or nil, InstanceTypes = { InstanceType = list } }
  end,
}

A.DescribeInstanceTypes = {
  run = function(ctx, p)
    local want = p.InstanceTypes and c.set_of(p.InstanceTypes)
    local items = {}
    for _, t in ipairs(data.instance_types) do
      local ok = (not want or want[t[1]]) and (not p.InstanceTypeFamily or p.InstanceTypeFamily == t[2])
      if p.MinimumCpuCoreCount and t[3] < p.MinimumCpuCoreCount then ok = false end
      if p.MaximumCpuCoreCount and t[3] > p.MaximumCpuCoreCount then ok = false end
      if p.MinimumMemorySize and t[4] < p.MinimumMemorySize then ok = false end
      if p.MaximumMemorySize and t[4] > p.MaximumMemorySize then ok = false end
      if ok then
        items[#items + 1] = { InstanceTypeId = t[1], InstanceTypeFamily = t[2], CpuCoreCount = t[3],
          MemorySize = t[4], InstanceFamilyLevel = "EnterpriseLevel", GPUAmount = 0, GPUSpec = "",
          EniQuantity = 2, EniPrivateIpAddressQuantity = 6, LocalStorageCategory = "",
          InstanceCategory = "General-purpose", CpuArchitecture = "X86", PrimaryEniQueueNumber = 2 }
      end
    end
    local page, meta = c.token_page(p, items)
    return { NextToken = meta.NextToken, InstanceTypes = { InstanceType = page } }
  end,
}

return A
