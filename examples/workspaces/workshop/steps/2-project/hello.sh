echo hello from the workshop
