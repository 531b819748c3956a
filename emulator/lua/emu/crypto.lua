-- Hashes and HMACs for request verification, through LuaJIT FFI to libcrypto.
-- Independent from the client's signer on purpose: the emulator must not share
-- code with lua/ecs or csrc/.
local ffi = require "ffi"

ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha1(void);
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
unsigned char *SHA256(const unsigned char *d, size_t n, unsigned char *md);
int EVP_EncodeBlock(unsigned char *t, const unsigned char *f, int n);
]]

local C
do
  local ok, lib = pcall(ffi.load, "crypto")
  if not ok then ok, lib = pcall(ffi.load, "libcrypto.so.3") end
  if not ok then error("emulator: cannot load libcrypto: " .. tostring(lib)) end
  C = lib
end

local md_buf = ffi.new("unsigned char[64]")
local len_buf = ffi.new("unsigned int[1]")
local b64_buf = ffi.new("unsigned char[96]")
local sha1, sha256 = C.EVP_sha1(), C.EVP_sha256()
local ffi_string = ffi.string
local byte, format, gsub = string.byte, string.format, string.gsub

local M = {}

local function tohex(s)
  return (gsub(s, ".", function(c) return format("%02x", byte(c)) end))
end
M.tohex = tohex

function M.hmac_sha1(key, data)
  C.HMAC(sha1, key, #key, data, #data, md_buf, len_buf)
  return ffi_string(md_buf, len_buf[0])
end

function M.hmac_sha256(key, data)
  C.HMAC(sha256, key, #key, data, #data, md_buf, len_buf)
  return ffi_string(md_buf, len_buf[0])
end

function M.sha256(data)
  C.SHA256(data, #data, md_buf)
  return ffi_string(md_buf, 32)
end

function M.sha256_hex(data) return tohex(M.sha256(data)) end

-- base64 of a digest (short inputs only: up to 64 bytes)
function M.b64_digest(raw)
  local n = C.EVP_EncodeBlock(b64_buf, raw, #raw)
  return ffi_string(b64_buf, n)
end

return M
