{"key_id":"8de83de8","policy":"1a1e64e39a635b0f2576e51c8dee5f512ef6eec0a3c7006d34012e6d6bebeb91","sig":"2PFSSBjn7ih4aY42ocjtnMDIVCrbzdeirsftONnvpW492POjD0LYTfTIIxGqdk8Gcp8Hntz9/19SqGmbTf3yAA=="}
