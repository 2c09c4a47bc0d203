-- v2: every chunk records the chunker that produced it, so a re-chunk with another chunker
-- version is visible row by row. The chunking stage writes these columns; a deployment
-- that never applied this migration (fault schema_drift) fails at chunking.
ALTER TABLE chunks ADD COLUMN chunker_name TEXT NOT NULL DEFAULT '';
ALTER TABLE chunks ADD COLUMN chunker_version INTEGER NOT NULL DEFAULT 0;
