module lifeline

go 1.19
