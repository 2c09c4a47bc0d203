-- v3: each worker's heartbeat row says how many times its supervisor restarted it, so
-- /health can report restarts (a worker that keeps dying is visible, not only a dead one).
ALTER TABLE worker_heartbeats ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;
