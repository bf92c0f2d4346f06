-- PostgreSQL keeps a real time zone-aware timestamp.
ALTER TABLE posts ADD COLUMN created_at TIMESTAMPTZ;
