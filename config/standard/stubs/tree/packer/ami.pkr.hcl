source "amazon-ebs" "ubuntu" {}
build { sources = ["source.amazon-ebs.ubuntu"] }
