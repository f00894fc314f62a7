module github.com/deployerhq/deployer

go 1.26
