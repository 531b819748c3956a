-- Bash completion: `lua-ecs completion bash` prints a script with the action names in it (the
-- first word completes without starting Lua); an action's parameter names come from
-- `lua-ecs __complete <Action>`, which reads the model.
local api = require "ecs.api"
local args = require "ecs.cli.args"

local M = {}

M.COMMANDS = { "help", "run", "completion", "version" }

local SCRIPT = [=[
# bash completion for lua-ecs. Load it with: eval "$(lua-ecs completion bash)"
# (or save it as ~/.local/share/bash-completion/completions/lua-ecs).
_lua_ecs_actions='@ACTIONS@'
_lua_ecs_options='@OPTIONS@'
_lua_ecs() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} first="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      --profile|--region|--endpoint|--signature-version|--method) ((i++)) ;;
      -*) ;;
      *) first=${COMP_WORDS[i]}; break ;;
    esac
  done
  COMPREPLY=()
  case $prev in
    --signature-version) COMPREPLY=($(compgen -W "v1 v3" -- "$cur")); return ;;
    --method) COMPREPLY=($(compgen -W "GET POST" -- "$cur")); return ;;
    --profile|--region|--endpoint) return ;;
    --pager) COMPREPLY=($(compgen -W "path= mode=token mode=page" -- "$cur")) ;;
    --waiter) COMPREPLY=($(compgen -W "expr= to= timeout= interval= fail=" -- "$cur")) ;;
    --output) COMPREPLY=($(compgen -W "cols= rows=" -- "$cur")) ;;
  esac
  if [[ ${#COMPREPLY[@]} -gt 0 ]]; then
    [[ ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
    return
  fi
  if [[ -z $first ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "$_lua_ecs_options" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "@COMMANDS@ $_lua_ecs_actions" -- "$cur"))
    fi
    return
  fi
  case $first in
    help) [[ $COMP_CWORD -eq $((i + 1)) ]] && COMPREPLY=($(compgen -W "$_lua_ecs_actions" -- "$cur")); return ;;
    completion) COMPREPLY=($(compgen -W "bash" -- "$cur")); return ;;
    run|version|__complete) return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" __complete "$first" 2>/dev/null)" -- "$cur"))
  fi
}
complete -o default -F _lua_ecs lua-ecs
]=]

local function option_flags()
  local out = {}
  for _, name in ipairs(args.OPTION_NAMES) do out[#out + 1] = "--" .. name end
  return out
end

--- The completion script for a shell (bash only), or nil and a message.
---@param shell? string
---@return string|nil script
---@return string|nil err
function M.script(shell)
  if shell ~= "bash" then
    return nil, ("completion: '%s' is not a shell lua-ecs completes for (bash)"):format(tostring(shell))
  end
  local text = SCRIPT:gsub("@(%u+)@", {
    ACTIONS = table.concat(api.actions(), " "),
    OPTIONS = table.concat(option_flags(), " "),
    COMMANDS = table.concat(M.COMMANDS, " "),
  })
  return text
end

--- The words that may follow an action: its parameters as flags (a list of objects by its first
--- item's fields, `--Tag.1.Key`; an object by its fields) and the options. Nothing for an
--- unknown action.
---@param action string
---@return string[] words
function M.words(action)
  local shape = api.action(action)
  if not shape then return {} end
  local out = {}
  for _, p in ipairs(shape.params) do
    out[#out + 1] = "--" .. p.name
    local item = p.type == "list" and p.items
    if item and item.type == "object" then
      for _, m in ipairs(item.members or {}) do out[#out + 1] = "--" .. p.name .. ".1." .. m.name end
    elseif p.type == "object" then
      for _, m in ipairs(p.members or {}) do out[#out + 1] = "--" .. p.name .. "." .. m.name end
    end
  end
  for _, o in ipairs(option_flags()) do out[#out + 1] = o end
  return out
end

return M
