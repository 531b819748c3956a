-- Images and instance types: the fixed catalogue of emu.data (public images in every region,
-- the custom images of the family "emulator-family", ten instance types).
local data = require "emu.data"
local util = require "emu.util"

local M = {}

-- DescribeImages' view of a public image
function M.view(img)
  return {
    ImageId = img[1], ImageName = img[1], OSName = img[2], OSNameEn = img[2], OSType = img[3],
    Platform = img[4], Size = img[5], ImageFamily = img[6], ImageOwnerAlias = "system",
    Architecture = "x86_64", Status = "Available", Progress = "100%", IsPublic = true,
    IsSelfShared = "", IsSubscribed = false, IsCopied = false, IsSupportCloudinit = true,
    IsSupportIoOptimized = true, Usage = "instance", CreationTime = "2024-01-30T00:00:00Z",
    Description = "", ProductCode = "", BootMode = "BIOS",
    DiskDeviceMappings = { DiskDeviceMapping = util.array() },
    Tags = { Tag = util.array() },
  }
end

-- the newest available custom image of a family, or nil
function M.family_latest(family)
  local best
  for _, fi in ipairs(data.family_images) do
    if fi[2] == family and fi[4] == "Available" and (not best or fi[3] > best[3]) then best = fi end
  end
  return best
end

-- DescribeImageFromFamily's view of a custom image
function M.family_view(fi)
  return {
    ImageId = fi[1], ImageName = fi[1], ImageFamily = fi[2], CreationTime = fi[3],
    Status = fi[4], Progress = "100", IsCopied = false, IsSelfShared = "", IsSubscribed = false,
    IsSupportCloudinit = true, IsSupportIoOptimized = true, ImageOwnerAlias = "self",
    OSName = "Alibaba Cloud Linux  3.2104 LTS 64位", OSNameEn = "Alibaba Cloud Linux 3.2104 LTS 64 bit",
    OSType = "linux", Platform = "Aliyun", Architecture = "x86_64", Size = 20, Usage = "instance",
    Description = "", ProductCode = "",
    DiskDeviceMappings = { DiskDeviceMapping = util.array() }, Tags = { Tag = util.array() },
  }
end

-- the image an instance launched with ImageFamily gets: the family's newest available custom
-- image, else its (last) public image; nil when the family is unknown
function M.from_family(family)
  local image_id
  for _, img in ipairs(data.images) do if img[6] == family then image_id = img[1] end end
  local best = M.family_latest(family)
  if best then image_id = best[1] end
  return image_id
end

-- every public image { ImageId, OSName, OSType, Platform, size GiB, family }, in catalogue order
function M.public_images() return data.images end

-- a public image, or nil
function M.public(id) return data.image_set[id] end

-- an image an instance can launch from (a public one or an available custom one) as a catalogue
-- tuple { ImageId, OSName, OSType, Platform, size GiB, family }, or nil
function M.launchable(id)
  local img = data.image_set[id]
  if img then return img end
  for _, fi in ipairs(data.family_images) do
    if fi[1] == id and fi[4] == "Available" then img = { fi[1], "Alibaba Cloud Linux  3.2104 LTS 64位", "linux", "Aliyun", 20, fi[2] } end
  end
  return img
end

-- an instance type { InstanceTypeId, family, vCPUs, memory GiB, generation }, or nil
function M.instance_type(id) return data.instance_type_set[id] end

-- every instance type, in catalogue order
function M.instance_types() return data.instance_types end

-- whether an image runs on an instance type
M.supports = data.image_supports

return M
