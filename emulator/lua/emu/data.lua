-- Static catalogue: regions and endpoints (ECS API reference, section 4.2),
-- zones, public images, image families and instance types.
local M = {}

-- RegionId, LocalName, endpoint. Regions without a dedicated endpoint use the default one.
M.regions = {
  { "cn-qingdao", "China North 1 (Qingdao)", "ecs.aliyuncs.com" },
  { "cn-beijing", "China North 2 (Beijing)", "ecs.aliyuncs.com" },
  { "cn-zhangjiakou", "China North 3 (Zhangjiakou)", "ecs.cn-zhangjiakou.aliyuncs.com" },
  { "cn-huhehaote", "China North 5 (Hohhot)", "ecs.cn-huhehaote.aliyuncs.com" },
  { "cn-hangzhou", "China East 1 (Hangzhou)", "ecs.aliyuncs.com" },
  { "cn-shanghai", "China East 2 (Shanghai)", "ecs.aliyuncs.com" },
  { "cn-shenzhen", "China South 1 (Shenzhen)", "ecs.aliyuncs.com" },
  { "cn-hongkong", "China (Hong Kong)", "ecs.cn-hongkong.aliyuncs.com" },
  { "ap-northeast-1", "Asia Pacific NE 1 (Tokyo)", "ecs.ap-northeast-1.aliyuncs.com" },
  { "ap-southeast-1", "Asia Pacific SE 1 (Singapore)", "ecs.ap-southeast-1.aliyuncs.com" },
  { "ap-southeast-2", "Asia Pacific SE 2 (Sydney)", "ecs.ap-southeast-2.aliyuncs.com" },
  { "ap-southeast-3", "Asia Pacific SE 3 (Kuala Lumpur)", "ecs.ap-southeast-3.aliyuncs.com" },
  { "ap-southeast-5", "Asia Pacific SE 5 (Jakarta)", "ecs.ap-southeast-5.aliyuncs.com" },
  { "ap-south-1", "Asia Pacific SOU 1 (Mumbai)", "ecs.ap-south-1.aliyuncs.com" },
  { "us-west-1", "US West 1 (Silicon Valley)", "ecs.us-west-1.aliyuncs.com" },
  { "us-east-1", "US East 1 (Virginia)", "ecs.us-east-1.aliyuncs.com" },
  { "eu-central-1", "Germany 1 (Frankfurt)", "ecs.eu-central-1.aliyuncs.com" },
  { "me-east-1", "Middle East 1 (Dubai)", "ecs.me-east-1.aliyuncs.com" },
}
M.region_set = {}
for _, r in ipairs(M.regions) do M.region_set[r[1]] = r end

-- two zones per region: <region>-a and <region>-b
function M.zones(region)
  return { region .. "-a", region .. "-b" }
end
function M.zone_region(zone)
  local r = zone and zone:match("^(.*)%-[ab]$")
  if r and M.region_set[r] then return r end
end

M.disk_categories = { "cloud", "cloud_efficiency", "cloud_ssd", "cloud_essd" }

-- InstanceTypeId, family, vCPUs, memory GiB, generation
M.instance_types = {
  { "ecs.t5-lc1m1.small", "ecs.t5", 1, 1.0, "ecs-3" },
  { "ecs.t5-lc1m2.small", "ecs.t5", 1, 2.0, "ecs-3" },
  { "ecs.t6-c1m1.large", "ecs.t6", 2, 2.0, "ecs-4" },
  { "ecs.c6.large", "ecs.c6", 2, 4.0, "ecs-4" },
  { "ecs.c6.xlarge", "ecs.c6", 4, 8.0, "ecs-4" },
  { "ecs.g6.large", "ecs.g6", 2, 8.0, "ecs-4" },
  { "ecs.g6.xlarge", "ecs.g6", 4, 16.0, "ecs-4" },
  { "ecs.g7.large", "ecs.g7", 2, 8.0, "ecs-5" },
  { "ecs.g7.2xlarge", "ecs.g7", 8, 32.0, "ecs-5" },
  { "ecs.r6.large", "ecs.r6", 2, 16.0, "ecs-4" },
}
M.instance_type_set = {}
for _, t in ipairs(M.instance_types) do M.instance_type_set[t[1]] = t end

-- public images, in every region: ImageId, OSName, OSType, Platform, size GiB, family
M.images = {
  { "ubuntu_22_04_x64_20G_alibase_20240130.vhd", "Ubuntu  22.04 64位", "linux", "Ubuntu", 20, "acs:ubuntu_22_04_x64" },
  { "centos_7_9_x64_20G_alibase_20240125.vhd", "CentOS  7.9 64位", "linux", "CentOS", 20, "acs:centos_7_9_x64" },
  { "aliyun_3_x64_20G_alibase_20240110.vhd", "Alibaba Cloud Linux  3.2104 LTS 64位", "linux", "Aliyun", 20, "acs:alibaba_cloud_linux_3_2104_lts_x64" },
  { "debian_12_4_x64_20G_alibase_20240126.vhd", "Debian  12.4 64位", "linux", "Debian", 20, "acs:debian_12_x64" },
  { "win2022_21H2_x64_dtc_en-us_40G_alibase_20240110.vhd", "Windows Server  2022 数据中心版 64位英文版", "windows", "Windows Server 2022", 40, "acs:windows_server_2022_x64" },
}
M.image_set = {}
for _, i in ipairs(M.images) do M.image_set[i[1]] = i end

-- custom images in an image family (DescribeImageFromFamily returns the newest available one)
M.family_images = {
  { "m-emu0family0old0001", "emulator-family", "2024-01-10T01:01:10Z", "Available" },
  { "m-emu0family0new0002", "emulator-family", "2024-02-10T01:01:10Z", "Available" },
  { "m-emu0family0bad0003", "emulator-family", "2024-03-10T01:01:10Z", "CreateFailed" },
}

-- Windows images need at least 1 GiB... and the emulator says 2 GiB and 2 vCPUs
function M.image_supports(image, itype)
  if image[3] == "windows" then return itype[4] >= 2 and itype[3] >= 2 end
  return true
end

return M
