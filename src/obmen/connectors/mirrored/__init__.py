"""What the two pull-only partners (1C and the site) share: mirror records of CommerceML uploads, the mirror
ingest and outbox, order documents, and the mirrored connector that reads the mirror and writes the outbox."""
