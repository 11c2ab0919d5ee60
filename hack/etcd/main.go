// Command etcd runs the pinned etcd server; it exists so that etcd can be
// built from the Go module proxy without a release download.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
