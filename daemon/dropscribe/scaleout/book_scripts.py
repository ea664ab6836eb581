"""The job book's Lua scripts: each change to a job is one script, atomic across front ends
and workers, with its status moves guarded as the SQLite store guards them in SQL.

Each script's comment names its KEYS and ARGV as ``book.RedisJobBook`` passes them.
"""

#: What ADMIT returns first when the upload already belongs to another job that still exists.
UPLOAD_TAKEN = 2

# KEYS: job, counters, waiting, idempotency (or a dummy), upload; ARGV: has key, fingerprint,
# job id, job key prefix, the upload's size and ETag (or ''), then the job's field/value pairs.
# A replayed key returns its job; an upload another job already submitted is refused (the
# first job may be reading it). The upload now belongs to an unfinished job: it must outlive
# the retention until the job ends (when its expiry is set again), and its size and ETag are
# pinned, so a worker downloads exactly what was there at submit.
ADMIT = """
if ARGV[1] == '1' then
  local earlier = redis.call('HMGET', KEYS[4], 'job_id', 'fingerprint')
  if earlier[1] and redis.call('EXISTS', ARGV[4] .. earlier[1]) == 1 then
    return {0, earlier[1], earlier[2]}
  end
end
local taken = redis.call('HGET', KEYS[5], 'job_id')
if taken and redis.call('EXISTS', ARGV[4] .. taken) == 1 then return {2, taken, ''} end
if ARGV[1] == '1' then
  redis.call('HSET', KEYS[4], 'job_id', ARGV[3], 'fingerprint', ARGV[2])
  redis.call('PERSIST', KEYS[4])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('HINCRBY', KEYS[2], 'submissions', 1)
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('HSET', KEYS[5], 'job_id', ARGV[3], 'size', ARGV[5], 'etag', ARGV[6])
redis.call('PERSIST', KEYS[5])
return {1, ARGV[3], ARGV[2]}
"""

# KEYS: job, counters, waiting; ARGV: job id, model, now, owner, liveness prefix, crash limit,
# crash error. Returns a Claim.
CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'processing' then
  local owner = redis.call('HGET', KEYS[1], 'owner')
  if owner and redis.call('EXISTS', ARGV[5] .. owner) == 1 then return 2 end
  local crashes = redis.call('HINCRBY', KEYS[1], 'crashes', 1)
  if crashes >= tonumber(ARGV[6]) then
    redis.call('HSET', KEYS[1], 'status', 'failed', 'completed_at', ARGV[3], 'error', ARGV[7])
    redis.call('SREM', KEYS[3], ARGV[1])
    return 3
  end
elseif status ~= 'accepted' and status ~= 'pending' then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'processing', 'started_at', ARGV[3], 'model', ARGV[2],
  'owner', ARGV[4])
redis.call('HINCRBY', KEYS[2], 'engine_runs', 1)
redis.call('SREM', KEYS[3], ARGV[1])
return 1
"""

# Expire a job that has ended, with its idempotency key and upload record.
EXPIRE_ENDED = """
local function expire_ended(job, seconds, upload_prefix)
  redis.call('EXPIRE', job, seconds)
  local idem = redis.call('HGET', job, 'idem_key')
  if idem then redis.call('EXPIRE', idem, seconds) end
  local upload = redis.call('HGET', job, 'upload_id')
  if upload then redis.call('EXPIRE', upload_prefix .. upload, seconds) end
end
"""

# KEYS: job; ARGV: status, now, result, error, owner, retention seconds, upload key prefix.
FINISH = (
    EXPIRE_ENDED
    + """
if redis.call('HGET', KEYS[1], 'status') ~= 'processing'
    or redis.call('HGET', KEYS[1], 'owner') ~= ARGV[5] then
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'completed_at', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'result', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[4]) end
expire_ended(KEYS[1], ARGV[6], ARGV[7])
return 1
"""
)

# KEYS: job, waiting; ARGV: job id, now, retention seconds, upload key prefix.
CANCEL = (
    EXPIRE_ENDED
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'accepted' and status ~= 'pending' and status ~= 'processing' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'completed_at', ARGV[2])
redis.call('SREM', KEYS[2], ARGV[1])
expire_ended(KEYS[1], ARGV[3], ARGV[4])
return 1
"""
)

# KEYS: job, waiting; ARGV: job id, owner.
RELEASE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'processing'
    or redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'pending')
redis.call('HDEL', KEYS[1], 'started_at', 'owner')
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""

# KEYS: job; moves accepted to pending.
MARK_PENDING = """
if redis.call('HGET', KEYS[1], 'status') ~= 'accepted' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'pending')
return 1
"""

# KEYS: job, pieces; ARGV: owner, piece field, piece JSON, seconds done, seconds in all (or
# ''). Keeps a finished piece and the job's progress while ``owner`` runs the job.
KEEP_PIECE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'processing'
  or redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[1], 'progress_done', ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'progress_total', ARGV[5]) end
return 1
"""
