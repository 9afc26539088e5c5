package deploy

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// rendered is one helm template run, decoded.
type rendered struct {
	deployments map[string]*appsv1.Deployment // by component
	services    map[string]*corev1.Service
	secrets     []*corev1.Secret
	pvcs        []*corev1.PersistentVolumeClaim
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	netpols     map[string]*networkingv1.NetworkPolicy
	monitors    []*monitoringv1.ServiceMonitor
}

// renderChart runs the real helm (v4, scripts/build-helm.sh) on the chart with the
// given values files, and decodes every manifest strictly (an unknown field is an
// error) into its Kubernetes API type; an unexpected kind fails the test.
func renderChart(t *testing.T, values ...string) rendered {
	t.Helper()
	helm := tool(t, "helm")
	chart := filepath.Join(repoRoot(t), "deploy", "helm", "vexen-auth")
	args := []string{"template", "vexen", chart, "--namespace", "auth"}
	for _, v := range values {
		args = append(args, "--values", v)
	}
	out := run(t, "", nil, helm, args...)
	r := rendered{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{}, netpols: map[string]*networkingv1.NetworkPolicy{}}
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(out, -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		var head struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("manifest is not YAML: %v\n%s", err, doc)
		}
		strict := func(into any) {
			if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
				t.Fatalf("%s/%s does not decode strictly into %T: %v\n%s", head.APIVersion, head.Kind, into, err, doc)
			}
		}
		component := func(labels map[string]string) string { return labels["app.kubernetes.io/component"] }
		switch head.APIVersion + "/" + head.Kind {
		case "apps/v1/Deployment":
			d := &appsv1.Deployment{}
			strict(d)
			r.deployments[component(d.Labels)] = d
		case "v1/Service":
			s := &corev1.Service{}
			strict(s)
			r.services[component(s.Labels)] = s
		case "v1/Secret":
			s := &corev1.Secret{}
			strict(s)
			r.secrets = append(r.secrets, s)
		case "v1/PersistentVolumeClaim":
			p := &corev1.PersistentVolumeClaim{}
			strict(p)
			r.pvcs = append(r.pvcs, p)
		case "policy/v1/PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			strict(p)
			r.pdbs = append(r.pdbs, p)
		case "autoscaling/v2/HorizontalPodAutoscaler":
			h := &autoscalingv2.HorizontalPodAutoscaler{}
			strict(h)
			r.hpas = append(r.hpas, h)
		case "networking.k8s.io/v1/NetworkPolicy":
			n := &networkingv1.NetworkPolicy{}
			strict(n)
			r.netpols[component(n.Labels)] = n
		case "monitoring.coreos.com/v1/ServiceMonitor":
			m := &monitoringv1.ServiceMonitor{}
			strict(m)
			r.monitors = append(r.monitors, m)
		default:
			t.Fatalf("unexpected manifest %s %s", head.APIVersion, head.Kind)
		}
	}
	return r
}

func TestHelmLint(t *testing.T) {
	helm := tool(t, "helm")
	dir := filepath.Join(repoRoot(t), "deploy", "helm")
	run(t, dir, nil, helm, "lint", "--strict", "vexen-auth")
	run(t, dir, nil, helm, "lint", "--strict", "vexen-auth", "--values", "values-production.yaml")
}

func TestHelmDefault(t *testing.T) {
	r := renderChart(t)
	checkChart(t, r)
	if len(r.monitors) != 0 {
		t.Error("ServiceMonitor rendered by default (needs the operator's CRDs)")
	}
	if len(r.secrets) != 1 || r.secrets[0].StringData["database-url"] == "" {
		t.Errorf("default values: want the chart's own backends Secret with database-url, got %+v", r.secrets)
	}
}

func TestHelmProduction(t *testing.T) {
	prod := filepath.Join(repoRoot(t), "deploy", "helm", "values-production.yaml")
	r := renderChart(t, prod)
	checkChart(t, r)
	if len(r.secrets) != 0 {
		t.Errorf("production values: credentials come from existing Secrets, but the chart made %d", len(r.secrets))
	}
	for _, c := range []string{"issuer", "verifier"} {
		env := containerEnv(r.deployments[c])
		if ref := env["DATABASE_URL"].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "vexen-backends" {
			t.Errorf("%s DATABASE_URL not from the existing Secret: %+v", c, env["DATABASE_URL"])
		}
		if ref := env["REDIS_URL"].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "vexen-backends" {
			t.Errorf("%s REDIS_URL not from the existing Secret: %+v", c, env["REDIS_URL"])
		}
	}
	if len(r.monitors) != 1 {
		t.Fatalf("%d ServiceMonitors, want 1", len(r.monitors))
	}
	m := r.monitors[0]
	if len(m.Spec.Endpoints) != 1 || m.Spec.Endpoints[0].Port != "metrics" || m.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v, want port metrics, /metrics", m.Spec.Endpoints)
	}
	if *r.deployments["issuer"].Spec.Replicas != 2 || r.deployments["issuer"].Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		t.Errorf("production issuer: %d replicas, strategy %q", *r.deployments["issuer"].Spec.Replicas, r.deployments["issuer"].Spec.Strategy.Type)
	}
	if r.hpas[0].Spec.MaxReplicas != 20 || r.pdbs[0].Spec.MinAvailable.IntValue() != 2 {
		t.Errorf("production HPA max %d, PDB minAvailable %v", r.hpas[0].Spec.MaxReplicas, r.pdbs[0].Spec.MinAvailable)
	}
}

// TestHelmRefusesUnsafeValues: values that cannot work fail the render.
func TestHelmRefusesUnsafeValues(t *testing.T) {
	helm := tool(t, "helm")
	chart := filepath.Join(repoRoot(t), "deploy", "helm", "vexen-auth")
	for _, tc := range []struct{ set, want string }{
		{"issuer.replicas=2", "ReadWriteMany"},
		{"database.url=", "database.url or database.existingSecret is required"},
	} {
		out, err := runErr("", nil, helm, "template", "vexen", chart, "--set", tc.set)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("--set %s: err %v, output %q; want a failure naming %q", tc.set, err, lastLine(out), tc.want)
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}

func containerEnv(d *appsv1.Deployment) map[string]corev1.EnvVar {
	env := map[string]corev1.EnvVar{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	return env
}

// checkChart holds what every rendering must satisfy.
func checkChart(t *testing.T, r rendered) {
	t.Helper()
	for _, c := range []struct{ name, arg0, port string }{{"issuer", "issuer", "8080"}, {"verifier", "verifier", "8081"}} {
		d := r.deployments[c.name]
		if d == nil {
			t.Fatalf("no %s Deployment", c.name)
		}
		pod := d.Spec.Template.Spec
		if len(pod.Containers) != 1 {
			t.Fatalf("%s: %d containers", c.name, len(pod.Containers))
		}
		ct := pod.Containers[0]
		if ct.Args[0] != c.arg0 {
			t.Errorf("%s runs %q", c.name, ct.Args)
		}
		probe := func(p *corev1.Probe, what string) string {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("%s: no HTTP %s probe", c.name, what)
				return ""
			}
			return p.HTTPGet.Path + "@" + p.HTTPGet.Port.String()
		}
		if got := probe(ct.ReadinessProbe, "readiness"); got != "/readyz@http" {
			t.Errorf("%s readiness probe %s, want /readyz on http", c.name, got)
		}
		if got := probe(ct.LivenessProbe, "liveness"); got != "/healthz@http" {
			t.Errorf("%s liveness probe %s, want /healthz on http", c.name, got)
		}
		ports := map[string]int32{}
		for _, p := range ct.Ports {
			ports[p.Name] = p.ContainerPort
		}
		if fmt.Sprint(ports["http"]) != c.port || ports["metrics"] != 9090 {
			t.Errorf("%s ports %v, want http %s and metrics 9090", c.name, ports, c.port)
		}
		env := containerEnv(d)
		if env["METRICS_LISTEN"].Value != "0.0.0.0:9090" {
			t.Errorf("%s METRICS_LISTEN = %q", c.name, env["METRICS_LISTEN"].Value)
		}
		if env["DATABASE_URL"].ValueFrom == nil || env["DATABASE_URL"].Value != "" {
			t.Errorf("%s DATABASE_URL is not from a Secret: %+v", c.name, env["DATABASE_URL"])
		}
		// Hardened pods: non-root, read-only root, no privilege escalation, no capabilities.
		psc, sc := pod.SecurityContext, ct.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("%s: security context pod %+v container %+v", c.name, psc, sc)
		}
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Errorf("%s mounts a service account token it never uses", c.name)
		}
		// The Service selects exactly this Deployment's pods.
		s := r.services[c.name]
		if s == nil {
			t.Fatalf("no %s Service", c.name)
		}
		for k, v := range s.Spec.Selector {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("%s Service selector %s=%s does not match the pods", c.name, k, v)
			}
		}
		if s.Spec.Selector["app.kubernetes.io/component"] != c.name {
			t.Errorf("%s Service selects %v", c.name, s.Spec.Selector)
		}
		if np := r.netpols[c.name]; np == nil || len(np.Spec.Ingress) == 0 {
			t.Errorf("no NetworkPolicy for %s", c.name)
		}
	}
	env := containerEnv(r.deployments["verifier"])
	if !strings.HasSuffix(env["JWKS_URL"].Value, "-issuer:8080/.well-known/jwks.json") {
		t.Errorf("verifier JWKS_URL = %q", env["JWKS_URL"].Value)
	}
	if env["VERIFIER_ISSUER"].Value != containerEnv(r.deployments["issuer"])["ISSUER_URL"].Value {
		t.Error("VERIFIER_ISSUER differs from ISSUER_URL: every token would be refused")
	}
	if len(r.pvcs) != 1 {
		t.Errorf("%d PersistentVolumeClaims, want 1 for the signing keys", len(r.pvcs))
	}
	if len(r.pdbs) != 1 || len(r.hpas) != 1 {
		t.Fatalf("%d PDBs, %d HPAs; want one of each for the verifier", len(r.pdbs), len(r.hpas))
	}
	if r.hpas[0].Spec.ScaleTargetRef.Name != r.deployments["verifier"].Name {
		t.Errorf("HPA scales %q", r.hpas[0].Spec.ScaleTargetRef.Name)
	}
	if r.deployments["verifier"].Spec.Replicas != nil {
		t.Error("verifier Deployment sets replicas while the HPA owns them")
	}
}
