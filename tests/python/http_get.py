# An HTTP URL in, its body on standard output (fails on any status but 200): the tests' GET without a Rust HTTP client.
import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
    sys.stdout.write(response.read().decode("utf-8"))
