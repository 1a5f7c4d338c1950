"""Small helpers the rest shares: JSONL files, safe npz reading, the one report writer, process ranks."""
