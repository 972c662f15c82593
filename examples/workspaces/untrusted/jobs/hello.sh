echo "hello from an untrusted job"
