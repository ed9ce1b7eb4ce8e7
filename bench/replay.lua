-- wrk script: replays pre-signed Twilio webhook posts, each wrk thread its own slice of the file.
-- usage: wrk -s bench/replay.lua ... -- FILE THREADS PATH
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local file, threads, path = args[1], tonumber(args[2]), args[3]
  requests = {}
  local i = 0
  for line in io.lines(file) do
    if i % threads == id then
      local signature, body = line:match("([^\t]*)\t(.*)")
      requests[#requests + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = signature,
      }, body)
    end
    i = i + 1
  end
  index = 0
end

function request()
  index = index + 1
  if index > #requests then index = 1 end
  return requests[index]
end
