-- Start, stop, reboot (one instance, or a batch), delete, modify.
local args = require "emu.args"
local instances = require "emu.model.instances"
local network = require "emu.model.network"
local respond = require "emu.respond"
local util = require "emu.util"

local fail = respond.fail
local A = {}

local function single(op)
  return {
    run = function(ctx, p)
      local inst = instances.find(ctx.S, p.InstanceId)
      local go = instances.OPS[op](inst)
      ctx.commit()
      go()
      return {}
    end,
  }
end

local function batch(op)
  return {
    run = function(ctx, p)
      local region = args.region(ctx, p)
      local ids = p.InstanceId
      if #ids > 100 then fail(400, "InvalidParameter", "The specified parameter \"InstanceId\" holds more than 100 items.") end
      local mode = p.BatchOptimization or "AllTogether"
      if mode ~= "AllTogether" and mode ~= "SuccessFirst" then
        fail(400, "InvalidParameter", "The specified parameter \"BatchOptimization\" is not valid.")
      end
      local plan, out = {}, util.array()
      for i, id in ipairs(ids) do
        local ok, res = pcall(function()
          local inst = instances.find(ctx.S, id, region)
          return { inst = inst, go = instances.OPS[op](inst), prev = inst.Status }
        end)
        if not ok then
          if mode == "AllTogether" then error(res, 0) end
          out[i] = { InstanceId = id, Code = res.code or "InternalError", Message = res.message or tostring(res),
            PreviousStatus = "", CurrentStatus = "" }
        else
          plan[i] = res
        end
      end
      ctx.commit()
      for i, id in ipairs(ids) do
        local pl = plan[i]
        if pl then
          pl.go()
          out[i] = { InstanceId = id, Code = "200", Message = "success", PreviousStatus = pl.prev,
            CurrentStatus = pl.inst.Status }
        end
      end
      return { InstanceResponses = { InstanceResponse = out } }
    end,
  }
end

A.StartInstance, A.StartInstances = single("start"), batch("start")
A.StopInstance, A.StopInstances = single("stop"), batch("stop")
A.RebootInstance, A.RebootInstances = single("reboot"), batch("reboot")

A.DeleteInstance = {
  run = function(ctx, p)
    local inst = instances.find(ctx.S, p.InstanceId)
    instances.check_deletable(inst, p.Force)
    ctx.commit()
    instances.release(ctx.S, inst)
    return {}
  end,
}

A.DeleteInstances = {
  run = function(ctx, p)
    local region = args.region(ctx, p)
    local list = {}
    for _, id in ipairs(p.InstanceId) do
      local inst = instances.find(ctx.S, id, region)
      instances.check_deletable(inst, p.Force)
      list[#list + 1] = inst
    end
    ctx.commit()
    for _, inst in ipairs(list) do instances.release(ctx.S, inst) end
    return {}
  end,
}

A.ModifyInstanceAttribute = {
  run = function(ctx, p)
    local inst = instances.find(ctx.S, p.InstanceId)
    instances.check_name(p.InstanceName, "InstanceName")
    instances.check_password(p.Password)
    instances.check_host_name(p.HostName)
    if p.Description and #p.Description > 256 then
      fail(400, "InvalidDescription.Malformed", "The specified parameter Description is not valid.")
    end
    local sgs
    if p.SecurityGroupIds then
      sgs = {}
      for _, s in ipairs(p.SecurityGroupIds) do
        local sg = network.security_group(ctx.S, s, inst.RegionId)
        if sg.VpcId ~= inst.VpcId then
          fail(403, "InvalidSecurityGroup.VpcMismatch", "The specified security group and the instance are not in the same VPC.")
        end
        sgs[#sgs + 1] = s
      end
    end
    if (p.Password or p.HostName or p.UserData) and inst.Status ~= "Running" and inst.Status ~= "Stopped" then
      instances.bad_status()
    end
    ctx.commit()
    if p.InstanceName then inst.InstanceName = p.InstanceName end
    if p.Description then inst.Description = p.Description end
    if p.HostName then inst.HostName = p.HostName end
    if p.UserData then inst.UserData = p.UserData end
    if p.DeletionProtection ~= nil then inst.DeletionProtection = p.DeletionProtection end
    if sgs then inst.sg_ids = sgs end
    return {}
  end,
}

return A
