"""`obmen demo`: the three sandboxes and obmen on loopback (`stack`) and the scripted day (`activity`)."""
