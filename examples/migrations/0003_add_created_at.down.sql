ALTER TABLE posts DROP COLUMN created_at;
