// Drives the emulator with the official Alibaba Cloud Node.js SDKs:
//   v1: @alicloud/pop-core RPCClient (HMAC-SHA1, GET and POST)
//   v3: @alicloud/ecs20140526 on @alicloud/openapi-core (ACS3-HMAC-SHA256)
// usage: node sdk_check.js <endpoint-url>   prints one JSON object with the results
'use strict';
const RPCClient = require('@alicloud/pop-core').RPCClient;
const Ecs = require('@alicloud/ecs20140526');
const { $OpenApiUtil } = require('@alicloud/openapi-core');

const endpoint = process.argv[2];
const u = new URL(endpoint);
const R = 'cn-hangzhou';
const IMG = 'ubuntu_22_04_x64_20G_alibase_20240130.vhd';
const out = {};

function v1(method, creds) {
  return new RPCClient(Object.assign({ accessKeyId: 'testid', accessKeySecret: 'testsecret',
    endpoint, apiVersion: '2014-05-26', opts: { method } }, creds || {}));
}
function v3(creds) {
  const cfg = new $OpenApiUtil.Config(Object.assign({ accessKeyId: 'testid', accessKeySecret: 'testsecret',
    endpoint: u.host, protocol: u.protocol.replace(':', ''), regionId: R }, creds || {}));
  return new Ecs.default(cfg);
}
async function attempt(name, fn) {
  try { out[name] = { ok: true, value: await fn() }; }
  catch (e) { out[name] = { ok: false, code: e.code || (e.data && e.data.Code), message: String(e.message).slice(0, 300) }; }
}

(async () => {
  // ---- signature v1
  for (const method of ['GET', 'POST']) {
    const c = v1(method);
    await attempt(`v1_${method}_DescribeRegions`, async () => (await c.request('DescribeRegions', {}, { method })).Regions.Region.length);
    await attempt(`v1_${method}_RunInstances`, async () => {
      const sg = (await c.request('CreateSecurityGroup', { RegionId: R, SecurityGroupName: 'sdk-v1' }, { method })).SecurityGroupId;
      const run = await c.request('RunInstances', { RegionId: R, ImageId: IMG, InstanceType: 'ecs.g6.large',
        SecurityGroupId: sg, Amount: 2, 'Tag.1.Key': 'sdk', 'Tag.1.Value': 'v1', ClientToken: 'v1-' + method }, { method });
      const ids = run.InstanceIdSets.InstanceIdSet;
      const d = await c.request('DescribeInstances', { RegionId: R, InstanceIds: JSON.stringify(ids),
        'Tag.1.Key': 'sdk', 'Tag.1.Value': 'v1' }, { method });
      return { created: ids.length, described: d.TotalCount, status: d.Instances.Instance[0].Status };
    });
  }
  await attempt('v1_InvalidAction', async () => v1('GET').request('DescribeUnicorns', {}));
  await attempt('v1_sts', async () => (await v1('GET', { accessKeyId: 'STS.testid', accessKeySecret: 'stssecret',
    securityToken: 'ststoken' }).request('DescribeRegions', {})).Regions.Region.length);
  await attempt('v1_wrong_secret', async () => v1('GET', { accessKeySecret: 'nope' }).request('DescribeRegions', {}));

  // ---- signature v3 (ACS3-HMAC-SHA256)
  const c3 = v3();
  await attempt('v3_DescribeRegions', async () => (await c3.describeRegions(new Ecs.DescribeRegionsRequest({}))).body.regions.region.length);
  await attempt('v3_lifecycle', async () => {
    const sg = (await c3.createSecurityGroup(new Ecs.CreateSecurityGroupRequest({ regionId: R, securityGroupName: 'sdk-v3' }))).body.securityGroupId;
    await c3.authorizeSecurityGroup(new Ecs.AuthorizeSecurityGroupRequest({ regionId: R, securityGroupId: sg,
      permissions: [new Ecs.AuthorizeSecurityGroupRequestPermissions({ ipProtocol: 'tcp', portRange: '22/22', sourceCidrIp: '0.0.0.0/0' })] }));
    const run = await c3.runInstances(new Ecs.RunInstancesRequest({ regionId: R, imageId: IMG, instanceType: 'ecs.g6.large',
      securityGroupId: sg, amount: 12, instanceName: 'sdk-v3',
      systemDisk: new Ecs.RunInstancesRequestSystemDisk({ category: 'cloud_essd', size: '40' }),
      dataDisk: [new Ecs.RunInstancesRequestDataDisk({ category: 'cloud_essd', size: 50 })],
      tag: [new Ecs.RunInstancesRequestTag({ key: 'sdk', value: 'v3' })] }));
    const ids = run.body.instanceIdSets.instanceIdSet;
    // NextToken / MaxResults paging
    let token, seen = 0, pages = 0;
    do {
      const d = await c3.describeInstances(new Ecs.DescribeInstancesRequest({ regionId: R, maxResults: 10, nextToken: token,
        tag: [new Ecs.DescribeInstancesRequestTag({ key: 'sdk', value: 'v3' })] }));
      seen += d.body.instances.instance.length; pages++;
      token = d.body.nextToken;
    } while (token);
    const paged = await c3.describeInstances(new Ecs.DescribeInstancesRequest({ regionId: R, pageSize: 5, pageNumber: 3, instanceName: 'sdk-v3' }));
    await c3.stopInstances(new Ecs.StopInstancesRequest({ regionId: R, instanceId: ids }));
    const st = await c3.describeInstanceStatus(new Ecs.DescribeInstanceStatusRequest({ regionId: R, instanceId: ids.slice(0, 1) }));
    const disks = await c3.describeDisks(new Ecs.DescribeDisksRequest({ regionId: R, instanceId: ids[0] }));
    await c3.deleteInstances(new Ecs.DeleteInstancesRequest({ regionId: R, instanceId: ids }));
    const left = await c3.describeInstances(new Ecs.DescribeInstancesRequest({ regionId: R, instanceName: 'sdk-v3' }));
    return { created: ids.length, seen, pages, page3: paged.body.instances.instance.length, total: paged.body.totalCount,
      stopped: st.body.instanceStatuses.instanceStatus[0].status, disks: disks.body.totalCount, left: left.body.totalCount };
  });
  await attempt('v3_tags', async () => {
    const sg = (await c3.createSecurityGroup(new Ecs.CreateSecurityGroupRequest({ regionId: R }))).body.securityGroupId;
    await c3.tagResources(new Ecs.TagResourcesRequest({ regionId: R, resourceType: 'securitygroup', resourceId: [sg],
      tag: [new Ecs.TagResourcesRequestTag({ key: 'k', value: 'v' })] }));
    const l = await c3.listTagResources(new Ecs.ListTagResourcesRequest({ regionId: R, resourceType: 'securitygroup', resourceId: [sg] }));
    return l.body.tagResources.tagResource.length;
  });
  await attempt('v3_images', async () => {
    const f = await c3.describeImageFromFamily(new Ecs.DescribeImageFromFamilyRequest({ regionId: R, imageFamily: 'emulator-family' }));
    const t = await c3.describeImageSupportInstanceTypes(new Ecs.DescribeImageSupportInstanceTypesRequest({ regionId: R,
      filter: [new Ecs.DescribeImageSupportInstanceTypesRequestFilter({ key: 'ImageId', value: IMG })] }));
    return { family: f.body.image.imageId, types: t.body.instanceTypes.instanceType.length };
  });
  await attempt('v3_sts', async () => (await v3({ accessKeyId: 'STS.testid', accessKeySecret: 'stssecret', securityToken: 'ststoken' })
    .describeRegions(new Ecs.DescribeRegionsRequest({}))).body.regions.region.length);
  await attempt('v3_wrong_secret', async () => v3({ accessKeySecret: 'nope' }).describeRegions(new Ecs.DescribeRegionsRequest({})));
  await attempt('v3_IncorrectInstanceStatus', async () => {
    const sg = (await c3.createSecurityGroup(new Ecs.CreateSecurityGroupRequest({ regionId: R }))).body.securityGroupId;
    const id = (await c3.runInstances(new Ecs.RunInstancesRequest({ regionId: R, imageId: IMG, instanceType: 'ecs.g6.large',
      securityGroupId: sg }))).body.instanceIdSets.instanceIdSet[0];
    return c3.startInstance(new Ecs.StartInstanceRequest({ instanceId: id }));
  });
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((e) => { console.error(e); process.exit(1); });
