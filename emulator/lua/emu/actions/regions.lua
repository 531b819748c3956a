-- DescribeRegions, DescribeZones
local c = require "emu.actions.common"
local data = require "emu.data"

local A = {}

A.DescribeRegions = {
  static = true, -- the reply only differs by RequestId: encoded once, then cached
  run = function(ctx, p)
    local list = c.array()
    for _, r in ipairs(data.regions) do
      list[#list + 1] = { RegionId = r[1], LocalName = r[2], RegionEndpoint = r[3], Status = "available" }
    end
    return { Regions = { Region = list } }
  end,
}

A.DescribeZones = {
  required = { "RegionId" },
  run = function(ctx, p)
    local region = c.region(p)
    local zones = c.array()
    local types = c.array()
    for _, t in ipairs(data.instance_types) do types[#types + 1] = t[1] end
    for _, z in ipairs(data.zones(region)) do
      zones[#zones + 1] = {
        ZoneId = z, LocalName = z:gsub("^.*%-(%a)$", function(l) return "Zone " .. l:upper() end),
        AvailableResourceCreation = { ResourceTypes = c.array { "Instance", "Disk", "VSwitch" } },
        AvailableInstanceTypes = { InstanceTypes = types },
        AvailableDiskCategories = { DiskCategories = c.array { unpack(data.disk_categories) } },
        AvailableVolumeCategories = { VolumeCategories = c.array() },
      }
    end
    return { Zones = { Zone = zones } }
  end,
}

return A
