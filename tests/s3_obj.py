#!/usr/bin/env python3
"""tests/s3_obj.py - look at a test bucket from outside the mount.

  s3_obj.py head s3://bucket/key    exit 0 when the object exists
  s3_obj.py get  s3://bucket/key    the object's bytes on stdout
  s3_obj.py ls   s3://bucket/prefix the keys under prefix, one per line
  s3_obj.py rm   s3://bucket/prefix delete every key under prefix (a test's
                                    teardown: the server keeps objects in RAM)

Path-style requests to $RAGFS_S3_ENDPOINT, signed with AWS Signature V4
(hashlib/hmac only) from $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY, region
$AWS_REGION. Written independently of backends/sigv4.c so a test does not
check the client with itself.
"""
import datetime
import hashlib
import hmac
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET


def sign(method, url, region):
    u = urllib.parse.urlsplit(url)
    now = datetime.datetime.now(datetime.timezone.utc)
    amz = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz[:8]
    empty = hashlib.sha256(b"").hexdigest()
    query = "&".join(sorted(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in urllib.parse.parse_qsl(u.query, keep_blank_values=True)))
    headers = {"host": u.netloc, "x-amz-content-sha256": empty, "x-amz-date": amz}
    signed = ";".join(sorted(headers))
    canon = "\n".join([method, u.path or "/", query,
                       "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
                       signed, empty])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope,
                         hashlib.sha256(canon.encode()).hexdigest()])
    key = ("AWS4" + os.environ["AWS_SECRET_ACCESS_KEY"]).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={os.environ['AWS_ACCESS_KEY_ID']}/{scope}, "
        f"SignedHeaders={signed}, Signature={sig}")
    del headers["host"]
    return headers


def request(method, bucket, key="", query=""):
    ep = os.environ["RAGFS_S3_ENDPOINT"].rstrip("/")
    url = f"{ep}/{bucket}/{urllib.parse.quote(key, safe='/-_.~')}"
    if query:
        url += "?" + query
    req = urllib.request.Request(url, method=method,
                                 headers=sign(method, url, os.environ.get("AWS_REGION", "us-east-1")))
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def keys(bucket, prefix):
    """Every key under prefix (ListObjectsV2, all pages)."""
    token = ""
    while True:
        q = "list-type=2&prefix=" + urllib.parse.quote(prefix, safe="")
        if token:
            q += "&continuation-token=" + urllib.parse.quote(token, safe="")
        root = ET.fromstring(request("GET", bucket, query=q))
        ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        for c in root.iter(ns + "Contents"):
            yield c.find(ns + "Key").text
        nxt = root.find(ns + "NextContinuationToken")
        if nxt is None or not nxt.text:
            break
        token = nxt.text


def main():
    op, uri = sys.argv[1], sys.argv[2]
    bucket, _, key = uri[len("s3://"):].partition("/")
    try:
        if op == "head":
            request("HEAD", bucket, key)
        elif op == "get":
            sys.stdout.buffer.write(request("GET", bucket, key))
        elif op == "ls":
            for k in keys(bucket, key):
                print(k)
        elif op == "rm":
            for k in list(keys(bucket, key)):
                request("DELETE", bucket, k)
        else:
            sys.exit(f"unknown op {op}")
    except urllib.error.HTTPError as e:
        sys.exit(f"{op} {uri}: HTTP {e.code}")


if __name__ == "__main__":
    main()
