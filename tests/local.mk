# Integration tests: numbered shell scripts that start a real sandbox cluster.
