instance_type = "t3.micro"
