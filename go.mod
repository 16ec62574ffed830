module github.com/cluster-as-code/cluster-as-code

go 1.26

require (
	github.com/sergi/go-diff v1.4.0
	gopkg.in/yaml.v3 v3.0.1
)
