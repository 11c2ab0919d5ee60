package envtestutil

import (
	"fmt"
	"net"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// ServiceAccountUser is the user name the API server gives a ServiceAccount.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// ContainerArgs are the arguments of a container of a Deployment.
func ContainerArgs(deployment *appsv1.Deployment, container string) ([]string, error) {
	for _, c := range deployment.Spec.Template.Spec.Containers {
		if c.Name == container {
			return c.Args, nil
		}
	}
	return nil, fmt.Errorf("deployment %s/%s has no container %q", deployment.Namespace, deployment.Name, container)
}

// LocalManagerArgs adapt the arguments a chart gives the manager's container to a
// process on this machine: metrics on metricsAddr (a free loopback address; the
// URL they are served at is returned, "" when the chart turns metrics off or
// metricsAddr is ""), no probe listener, and with leader election the Lease in the
// release namespace, which a pod takes from its ServiceAccount's mount.
func LocalManagerArgs(podArgs []string, namespace, metricsAddr string) (args []string, metricsURL string) {
	scheme := "http"
	for _, a := range podArgs {
		switch {
		case a == "--metrics-secure":
			scheme = "https"
		case strings.HasPrefix(a, "--metrics-bind-address=") && a != "--metrics-bind-address=0":
			if metricsAddr == "" {
				a = "--metrics-bind-address=0"
			} else {
				a, metricsURL = "--metrics-bind-address="+metricsAddr, metricsAddr
			}
		case strings.HasPrefix(a, "--health-probe-bind-address="):
			a = "--health-probe-bind-address=0"
		case a == "--leader-elect":
			args = append(args, "--leader-election-namespace="+namespace)
		}
		args = append(args, a)
	}
	if metricsURL != "" {
		metricsURL = scheme + "://" + metricsURL + "/metrics"
	}
	return args, metricsURL
}

// FreeLoopbackAddress is a loopback address with a port no listener holds now, for
// a process's listener (metrics, profiling) to bind.
func FreeLoopbackAddress() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// ImpersonatingKubeconfig writes to path the administrator's kubeconfig with every
// user impersonating identity, so the API server authorises each call of a process
// using it as identity's.
func ImpersonatingKubeconfig(adminKubeconfig, identity, path string) error {
	kubeconfig, err := clientcmd.LoadFromFile(adminKubeconfig)
	if err != nil {
		return err
	}
	for _, user := range kubeconfig.AuthInfos {
		user.Impersonate = identity
	}
	return clientcmd.WriteToFile(*kubeconfig, path)
}
