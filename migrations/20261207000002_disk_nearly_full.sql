-- The alert rule "disk nearly full": the newest successful prerequisites
-- check found less than so many MiB free in the app's file system (1 GiB
-- by default).
INSERT INTO alert_rules (kind, threshold) VALUES ('disk-nearly-full', 1024);
