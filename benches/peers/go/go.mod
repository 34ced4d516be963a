module tide-peer-go

go 1.19
