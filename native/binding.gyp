{
  "targets": [
    {
      "target_name": "podnet_netlink",
      "sources": ["podnet_netlink.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
