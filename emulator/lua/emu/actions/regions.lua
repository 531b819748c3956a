-- DescribeRegions, DescribeZones
local args = require "emu.args"
local data = require "emu.data"
local util = require "emu.util"

local A = {}

A.DescribeRegions = {
  static = true, -- the reply only differs by RequestId: encoded once, then cached
  run = function()
    local list = util.array()
    for _, r in ipairs(data.regions) do
      list[#list + 1] = { RegionId = r[1], LocalName = r[2], RegionEndpoint = r[3], Status = "available" }
    end
    return { Regions = { Region = list } }
  end,
}

A.DescribeZones = {
  run = function(ctx, p)
    local region = args.region(ctx, p)
    local zones = util.array()
    local types = util.array()
    for _, t in ipairs(data.instance_types) do types[#types + 1] = t[1] end
    for _, z in ipairs(data.zones(region)) do
      zones[#zones + 1] = {
        ZoneId = z, LocalName = z:gsub("^.*%-(%a)$", function(l) return "Zone " .. l:upper() end),
        AvailableResourceCreation = { ResourceTypes = util.array { "Instance", "Disk", "VSwitch" } },
        AvailableInstanceTypes = { InstanceTypes = types },
        AvailableDiskCategories = { DiskCategories = util.array { unpack(data.disk_categories) } },
        AvailableVolumeCategories = { VolumeCategories = util.array() },
      }
    end
    return { Zones = { Zone = zones } }
  end,
}

return A
