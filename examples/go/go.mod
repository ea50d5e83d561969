module agent

go 1.19

require lifeline v0.0.0

replace lifeline => ../../bindings/go
