"""1C:Enterprise as obmen sees it: a pull-only partner behind the exchange endpoint (ARCHITECTURE §2.7)."""
