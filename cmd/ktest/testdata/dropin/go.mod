module example.com/dropin

go 1.22
