package cloudconfig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"gopkg.in/yaml.v3"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// testPassword is what the fake resolver returns: characters an environment file must quote.
const testPassword = `Test-Pässword "quoted" $HOME \ back`

const (
	testCluster = "green-cluster"
	testRef     = "vault:secret/green-cluster/marathon#password"
)

// fakeResolver resolves one reference to a fixed value and records what it was asked.
type fakeResolver struct {
	values map[string]string
	err    error
	asked  []string
}

func (f *fakeResolver) Resolve(_ context.Context, ref string) (string, error) {
	f.asked = append(f.asked, ref)
	if f.err != nil {
		return "", f.err
	}
	v, ok := f.values[ref]
	if !ok {
		return "", errors.New("no such secret")
	}
	return v, nil
}

func newResolver() *fakeResolver {
	return &fakeResolver{values: map[string]string{testRef: testPassword}}
}

// exampleFS reads the repository's example fleet into an editable file system.
func exampleFS(t *testing.T) fstest.MapFS {
	t.Helper()
	root := os.DirFS(filepath.Join("..", ".."))
	out := fstest.MapFS{}
	for _, top := range model.Folders() {
		err := fs.WalkDir(root, top, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !d.Type().IsRegular() {
				return err
			}
			data, err := fs.ReadFile(root, p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			out[p] = &fstest.MapFile{Data: data, Mode: info.Mode()}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func load(t *testing.T, fsys fs.FS) *model.Repo {
	t.Helper()
	repo, _, err := model.Load(context.Background(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

func exampleRepo(t *testing.T) *model.Repo { return load(t, exampleFS(t)) }

func indented(t *testing.T, d Drive) []byte {
	t.Helper()
	b, err := d.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cloudconfig -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; got:\n%s", path, got)
	}
}

// TestGolden renders one node of each role; the redacted drive, its user data as text, and for
// the master the real drive made with the fake resolver.
func TestGolden(t *testing.T) {
	repo := exampleRepo(t)
	for _, tc := range []struct {
		name, node string
		resolved   bool
	}{
		{"master", "able", true},
		{"dns-server", "tobias", false},
		{"agent", "earner", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ForNode(context.Background(), repo, testCluster, tc.node, newResolver())
			if err != nil {
				t.Fatal(err)
			}
			red := d.Redacted()
			golden(t, tc.name+".redacted.json", indented(t, red))
			golden(t, tc.name+".user-data.yaml", []byte(red.UserData))
			if tc.resolved {
				golden(t, tc.name+".resolved.json", indented(t, d))
			}
		})
	}
}

// writeFiles parses user data as YAML and returns its write_files by path.
func writeFiles(t *testing.T, userData string) (map[string]any, map[string]string) {
	t.Helper()
	if !strings.HasPrefix(userData, "#cloud-config\n") {
		t.Fatalf("user data does not start with #cloud-config: %.40q", userData)
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(userData), &doc); err != nil {
		t.Fatalf("user data is not YAML: %v", err)
	}
	files := map[string]string{}
	list, _ := doc["write_files"].([]any)
	for _, x := range list {
		f := x.(map[string]any)
		files[f["path"].(string)] = f["content"].(string)
	}
	return doc, files
}

// envValue reads KEY's value back from an environment file the way systemd does for the
// quoting env uses: bare, or double-quoted with backslash escapes.
func envValue(t *testing.T, content, key string) string {
	t.Helper()
	for _, line := range strings.Split(content, "\n") {
		v, ok := strings.CutPrefix(line, key+"=")
		if !ok {
			continue
		}
		if !strings.HasPrefix(v, `"`) {
			return v
		}
		var b strings.Builder
		esc := false
		for _, r := range v[1 : len(v)-1] {
			if !esc && r == '\\' {
				esc = true
				continue
			}
			esc = false
			b.WriteRune(r)
		}
		return b.String()
	}
	t.Fatalf("no %s in:\n%s", key, content)
	return ""
}

// TestUserDataFiles checks what each role's units will read.
func TestUserDataFiles(t *testing.T) {
	repo := exampleRepo(t)
	ensemble := "zk://10.11.11.151:2181,10.11.11.152:2181,10.11.11.153:2181"
	for _, tc := range []struct {
		node  string
		files []string
		env   map[string]map[string]string // file → key → value
		exact map[string]string            // file → content
	}{
		{
			node:  "theta",
			files: []string{"/etc/cluster/etcd.env", "/etc/cluster/marathon.env", "/etc/cluster/mesos.env", "/etc/cluster/zookeeper-myid", "/etc/cluster/zookeeper-servers.cfg"},
			env: map[string]map[string]string{
				"/etc/cluster/etcd.env": {
					"ETCD_NAME":                        "theta",
					"ETCD_INITIAL_CLUSTER":             "able=http://10.11.11.151:2380,theta=http://10.11.11.152:2380,frozen=http://10.11.11.153:2380",
					"ETCD_INITIAL_CLUSTER_TOKEN":       "green-cluster",
					"ETCD_INITIAL_ADVERTISE_PEER_URLS": "http://10.11.11.152:2380",
				},
				"/etc/cluster/mesos.env": {"MESOS_ZK": ensemble + "/mesos", "MESOS_QUORUM": "2", "MESOS_IP": "10.11.11.152", "MESOS_HOSTNAME": "theta.nodes.zbi.cba"},
				"/etc/cluster/marathon.env": {
					"MARATHON_HTTP_CREDENTIALS": "marathon:" + testPassword,
					"MARATHON_ZK":               ensemble + "/marathon",
				},
			},
			exact: map[string]string{
				"/etc/cluster/zookeeper-myid":        "2\n",
				"/etc/cluster/zookeeper-servers.cfg": "server.1=10.11.11.151:2888:3888\nserver.2=10.11.11.152:2888:3888\nserver.3=10.11.11.153:2888:3888\n",
			},
		},
		{
			node:  "earner",
			files: []string{"/etc/cluster/mesos.env"},
			env:   map[string]map[string]string{"/etc/cluster/mesos.env": {"MESOS_MASTER": ensemble + "/mesos", "MESOS_IP": "10.11.11.201"}},
		},
		{
			node:  "fitch",
			files: []string{"/etc/cluster/dns.env", "/etc/cluster/mesos-dns.json"},
			env:   map[string]map[string]string{"/etc/cluster/dns.env": {"UPSTREAM_NAMESERVERS": "10.11.11.1"}},
			exact: map[string]string{"/etc/cluster/mesos-dns.json": `{"zk":"` + ensemble + `/mesos"}` + "\n"},
		},
	} {
		t.Run(tc.node, func(t *testing.T) {
			d, err := ForNode(context.Background(), repo, testCluster, tc.node, newResolver())
			if err != nil {
				t.Fatal(err)
			}
			doc, files := writeFiles(t, d.UserData)
			if doc["hostname"] != tc.node || doc["fqdn"] != tc.node+".nodes.zbi.cba" || doc["manage_etc_hosts"] != true {
				t.Errorf("got hostname %v, fqdn %v, manage_etc_hosts %v", doc["hostname"], doc["fqdn"], doc["manage_etc_hosts"])
			}
			var paths []string
			for p := range files {
				paths = append(paths, p)
			}
			slices.Sort(paths)
			if !slices.Equal(paths, tc.files) {
				t.Errorf("got files %v, want %v", paths, tc.files)
			}
			for f, kv := range tc.env {
				for k, want := range kv {
					if got := envValue(t, files[f], k); got != want {
						t.Errorf("%s %s: got %q, want %q", f, k, got, want)
					}
				}
			}
			for f, want := range tc.exact {
				if got := files[f]; got != want {
					t.Errorf("%s: got %q, want %q", f, got, want)
				}
			}
		})
	}
}

// TestFilesAreReadByTheImage checks that every file a drive writes is named by the node's
// image (or its parent, base): a unit or a settings file that reads it.
func TestFilesAreReadByTheImage(t *testing.T) {
	repo := exampleRepo(t)
	root := filepath.Join("..", "..", "images")
	for _, c := range repo.Clusters {
		for _, n := range c.Nodes {
			d, err := ForNode(context.Background(), repo, c.Name.V, n.Name.V, newResolver())
			if err != nil {
				t.Fatal(err)
			}
			v := repo.Variant(n.Image.V)
			if v == nil {
				t.Fatalf("node %s: no variant %q", n.Name.V, n.Image.V)
			}
			var tree strings.Builder
			err = filepath.WalkDir(filepath.Join(root, v.Image.V, "tree"), func(p string, e fs.DirEntry, err error) error {
				if err != nil || e.IsDir() {
					return err
				}
				b, err := os.ReadFile(p)
				tree.Write(b)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			_, files := writeFiles(t, d.UserData)
			for p := range files {
				if !strings.Contains(tree.String(), p) {
					t.Errorf("node %s writes %s, which nothing in images/%s/tree reads", n.Name.V, p, v.Image.V)
				}
			}
		}
	}
}

// TestSecretNeverLeaks: the value is in the real drive, and never in the redacted one, in its
// JSON, or in an error.
func TestSecretNeverLeaks(t *testing.T) {
	ctx := context.Background()
	repo := exampleRepo(t)
	d, err := ForNode(ctx, repo, testCluster, "able", newResolver())
	if err != nil {
		t.Fatal(err)
	}
	real, _ := d.JSON()
	if !strings.Contains(d.UserData, `\$HOME \\ back`) {
		t.Errorf("the resolved password is not in the real drive:\n%s", d.UserData)
	}
	red := d.Redacted()
	b, _ := red.JSON()
	for _, part := range []string{testPassword, "Pässword", `\"quoted\"`} {
		if strings.Contains(string(b), part) || strings.Contains(red.UserData, part) {
			t.Errorf("redacted drive holds %q", part)
		}
	}
	_, files := writeFiles(t, red.UserData)
	if got := envValue(t, files["/etc/cluster/marathon.env"], "MARATHON_HTTP_CREDENTIALS"); got != "marathon:"+model.Masked {
		t.Errorf("redacted credentials: got %q, want the mask", got)
	}
	if twice := red.Redacted(); twice.UserData != red.UserData {
		t.Errorf("redacting twice changed the drive")
	}
	if again, _ := d.JSON(); !bytes.Equal(again, real) {
		t.Errorf("Redacted changed the drive it was called on")
	}

	bad := []struct {
		name  string
		value string
	}{
		{"newline", "line1\nline2-" + testPassword},
		{"control character", "bell\a" + testPassword},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeResolver{values: map[string]string{testRef: tc.value}}
			_, err := ForNode(ctx, repo, testCluster, "able", r)
			if !errors.Is(err, ErrSecret) {
				t.Fatalf("got %v, want ErrSecret", err)
			}
			if strings.Contains(err.Error(), testPassword) || strings.Contains(err.Error(), "line1") {
				t.Errorf("error holds the value: %v", err)
			}
			if !strings.Contains(err.Error(), testRef) || !strings.Contains(err.Error(), `"able"`) {
				t.Errorf("error names neither the node nor the reference: %v", err)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	ctx := context.Background()
	repo := exampleRepo(t)
	for _, node := range []string{"able", "tobias", "earner"} {
		a, err := ForNode(ctx, repo, testCluster, node, newResolver())
		if err != nil {
			t.Fatal(err)
		}
		b, err := ForNode(ctx, exampleRepo(t), testCluster, node, newResolver())
		if err != nil {
			t.Fatal(err)
		}
		ja, _ := a.JSON()
		jb, _ := b.JSON()
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s: two builds differ:\n%s\n%s", node, ja, jb)
		}
	}
}

// TestMasterOrder: reordering the masters in the file changes no drive.
func TestMasterOrder(t *testing.T) {
	fsys := exampleFS(t)
	before := exampleRepo(t)
	f := fsys["clusters/green-cluster.yaml"]
	src := string(f.Data)
	i, j := strings.Index(src, "      able:\n"), strings.Index(src, "      theta:\n")
	k := strings.Index(src, "      frozen:\n")
	if i < 0 || j < 0 || k < 0 {
		t.Fatal("the example fleet changed: masters not found")
	}
	// able, theta, frozen → theta, able, frozen
	f.Data = []byte(src[:i] + src[j:k] + src[i:j] + src[k:])
	after := load(t, fsys)
	if got := after.Clusters[0].RoleNodes(model.Masters)[0].Name.V; got != "theta" {
		t.Fatalf("reordering did not take: first master %s", got)
	}
	for _, node := range []string{"frozen", "earner", "tobias"} {
		a, err := ForNode(context.Background(), before, testCluster, node, newResolver())
		if err != nil {
			t.Fatal(err)
		}
		b, err := ForNode(context.Background(), after, testCluster, node, newResolver())
		if err != nil {
			t.Fatal(err)
		}
		ja, _ := a.JSON()
		jb, _ := b.JSON()
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s: drive changed with the masters' order", node)
		}
	}
}

// TestNetworkData checks that network_data's parts refer to each other and to the inventory,
// for every node of the example fleet.
func TestNetworkData(t *testing.T) {
	repo := exampleRepo(t)
	for _, c := range repo.Clusters {
		for _, n := range c.Nodes {
			t.Run(n.Name.V, func(t *testing.T) {
				d, err := ForNode(context.Background(), repo, c.Name.V, n.Name.V, newResolver())
				if err != nil {
					t.Fatal(err)
				}
				// Through JSON, as Ironic and cloud-init see it.
				raw, _ := d.JSON()
				var doc struct {
					NetworkData struct {
						Links    []map[string]any `json:"links"`
						Networks []map[string]any `json:"networks"`
						Services []map[string]any `json:"services"`
					} `json:"network_data"`
					MetaData map[string]any `json:"meta_data"`
				}
				if err := json.Unmarshal(raw, &doc); err != nil {
					t.Fatal(err)
				}
				nd := doc.NetworkData
				links := map[string]map[string]any{}
				var macs []string
				for _, l := range nd.Links {
					id := l["id"].(string)
					if links[id] != nil {
						t.Errorf("link %s twice", id)
					}
					links[id] = l
					if l["type"] == "phy" {
						macs = append(macs, l["ethernet_mac_address"].(string))
					}
				}
				var want []string
				for _, nic := range repo.Server(n.Name.V).Network {
					want = append(want, strings.ToLower(nic.MAC.V))
				}
				if !slices.Equal(macs, want) {
					t.Errorf("phy links %v, inventory NICs %v", macs, want)
				}
				for _, l := range nd.Links {
					if l["type"] != "vlan" {
						continue
					}
					phy := links[l["vlan_link"].(string)]
					if phy == nil || phy["type"] != "phy" {
						t.Errorf("vlan link %s: vlan_link %v is not a phy link", l["id"], l["vlan_link"])
						continue
					}
					if l["vlan_mac_address"] != phy["ethernet_mac_address"] {
						t.Errorf("vlan link %s: mac %v, its phy link's %v", l["id"], l["vlan_mac_address"], phy["ethernet_mac_address"])
					}
					if int(l["vlan_id"].(float64)) != n.LAN.VLAN.V {
						t.Errorf("vlan_id %v, lan.vlan %d", l["vlan_id"], n.LAN.VLAN.V)
					}
				}
				if len(nd.Networks) != 1 {
					t.Fatalf("got %d networks, want 1", len(nd.Networks))
				}
				net := nd.Networks[0]
				l := links[net["link"].(string)]
				if l == nil {
					t.Fatalf("network's link %v does not exist", net["link"])
				}
				mac := l["ethernet_mac_address"]
				if l["type"] == "vlan" {
					mac = l["vlan_mac_address"]
				}
				if mac != strings.ToLower(n.LAN.MAC.V) {
					t.Errorf("network on MAC %v, lan.mac %s", mac, n.LAN.MAC.V)
				}
				if got := net["ip_address"].(string) + "/" + map[any]string{"255.255.255.0": "24"}[net["netmask"]]; got != n.LAN.IP.V {
					t.Errorf("ip_address/netmask %v/%v, lan.ip %s", net["ip_address"], net["netmask"], n.LAN.IP.V)
				}
				routes, _ := net["routes"].([]any)
				if len(routes) != 1 || routes[0].(map[string]any)["gateway"] != n.LAN.Gateway.V || routes[0].(map[string]any)["network"] != "0.0.0.0" {
					t.Errorf("routes %v, want the default route via %s", routes, n.LAN.Gateway.V)
				}
				var dns []string
				for _, s := range nd.Services {
					if s["type"] == "dns" {
						dns = append(dns, s["address"].(string))
					}
				}
				if len(dns) != len(c.DNS.Nameservers) || dns[0] != c.DNS.Nameservers[0].V {
					t.Errorf("dns services %v, nameservers %v", dns, c.DNS.Nameservers)
				}
				if doc.MetaData["uuid"] != repo.Server(n.Name.V).IronicUUID.V {
					t.Errorf("meta_data uuid %v, ironic_uuid %s", doc.MetaData["uuid"], repo.Server(n.Name.V).IronicUUID.V)
				}
			})
		}
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	repo := exampleRepo(t)

	ghost := exampleFS(t)
	f := ghost["clusters/green-cluster.yaml"]
	f.Data = []byte(strings.Replace(string(f.Data), "      earner:\n", "      ghost:\n", 1))
	ghostRepo := load(t, ghost)

	for _, tc := range []struct {
		name     string
		repo     *model.Repo
		cluster  string
		node     string
		resolver SecretResolver
		want     error
		mentions []string
	}{
		{"unknown cluster", repo, "blue-cluster", "able", newResolver(), ErrUnknownCluster, []string{`"blue-cluster"`, `"able"`}},
		{"unknown node", repo, testCluster, "mile", newResolver(), ErrUnknownNode, []string{`"mile"`}},
		{"server not in the inventory", ghostRepo, testCluster, "ghost", newResolver(), ErrNoServer, []string{`"ghost"`}},
		{"secret cannot be resolved", repo, testCluster, "able", &fakeResolver{err: errors.New("vault: permission denied")}, nil, []string{`"able"`, testRef, "permission denied"}},
		{"no resolver for a master", repo, testCluster, "able", nil, ErrSecret, []string{`"able"`, testRef}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ForNode(ctx, tc.repo, tc.cluster, tc.node, tc.resolver)
			if err == nil {
				t.Fatal("got no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %s", err, m)
				}
			}
		})
	}

	// Agents and DNS servers need no secret: no resolver is asked.
	r := newResolver()
	for _, node := range []string{"earner", "tobias"} {
		if _, err := ForNode(ctx, repo, testCluster, node, nil); err != nil {
			t.Errorf("%s without a resolver: %v", node, err)
		}
		if _, err := ForNode(ctx, repo, testCluster, node, r); err != nil {
			t.Errorf("%s: %v", node, err)
		}
	}
	if len(r.asked) != 0 {
		t.Errorf("resolver asked for %v by nodes that need no secret", r.asked)
	}
}

// TestHash: the hash needs no resolver, follows the secret's reference, and tells nodes apart.
func TestHash(t *testing.T) {
	ctx := context.Background()
	repo := exampleRepo(t)
	able, err := Hash(ctx, repo, testCluster, "able")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Hash(ctx, exampleRepo(t), testCluster, "able")
	theta, _ := Hash(ctx, repo, testCluster, "theta")
	if able != again || able == theta || len(able) != 64 {
		t.Errorf("got able %s, again %s, theta %s", able, again, theta)
	}

	moved := exampleFS(t)
	f := moved["clusters/green-cluster.yaml"]
	f.Data = []byte(strings.Replace(string(f.Data), testRef, testRef+"-v2", 1))
	if rotated, _ := Hash(ctx, load(t, moved), testCluster, "able"); rotated == able {
		t.Errorf("hash did not change with the secret's reference")
	}
	if agent, _ := Hash(ctx, load(t, moved), testCluster, "earner"); agent == "" {
		t.Errorf("no hash for an agent")
	}
}

// TestJoinExisting: a master joining its running cluster starts etcd as "existing", one of a
// new cluster as "new"; the option changes no other file, no other role, and not the hash.
func TestJoinExisting(t *testing.T) {
	ctx := context.Background()
	repo := exampleRepo(t)
	for _, tc := range []struct {
		node, want string
		opts       Options
	}{
		{"able", "new", Options{}},
		{"able", "existing", Options{JoinExisting: true}},
		{"theta", "existing", Options{JoinExisting: true}},
	} {
		d, err := ForNodeWith(ctx, repo, testCluster, tc.node, newResolver(), tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		_, files := writeFiles(t, d.UserData)
		if got := envValue(t, files["/etc/cluster/etcd.env"], "ETCD_INITIAL_CLUSTER_STATE"); got != tc.want {
			t.Errorf("%s with %+v: ETCD_INITIAL_CLUSTER_STATE=%s, want %s", tc.node, tc.opts, got, tc.want)
		}
	}

	plain, err := ForNode(ctx, repo, testCluster, "able", newResolver())
	if err != nil {
		t.Fatal(err)
	}
	joining, err := ForNodeWith(ctx, repo, testCluster, "able", newResolver(), Options{JoinExisting: true})
	if err != nil {
		t.Fatal(err)
	}
	_, a := writeFiles(t, plain.UserData)
	_, b := writeFiles(t, joining.UserData)
	for path, content := range a {
		if path != "/etc/cluster/etcd.env" && b[path] != content {
			t.Errorf("%s differs when joining: got %q, want %q", path, b[path], content)
		}
	}
	if got, want := strings.Replace(b["/etc/cluster/etcd.env"], "=existing", "=new", 1), a["/etc/cluster/etcd.env"]; got != want {
		t.Errorf("etcd.env differs beyond the state when joining:\n%s\nwant\n%s", b["/etc/cluster/etcd.env"], want)
	}

	agent, _ := ForNode(ctx, repo, testCluster, "earner", nil)
	agentJoin, _ := ForNodeWith(ctx, repo, testCluster, "earner", nil, Options{JoinExisting: true})
	if agent.UserData != agentJoin.UserData || strings.Contains(agent.UserData, "ETCD_") {
		t.Errorf("an agent's drive depends on JoinExisting or holds etcd settings:\n%s", agentJoin.UserData)
	}

	// The hashes the plan records on deployed nodes are those from before the bootstrap mode
	// was written to the drive: adding it must not make every master look changed.
	for node, want := range map[string]string{
		"able":   "abd0ce3dfd23d442d906471f2025d347af1917d7b7af46907a354c7844e04587",
		"theta":  "951f17917e17b33d831cb71adde33ae3070b6cce5f1e680e6f6a72a6006b9d7f",
		"earner": "e4d2dbff1704cf898a8932a622b955ee44325fe872c9d8f7e80753c52bcb1b89",
	} {
		got, err := Hash(ctx, repo, testCluster, node)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Hash(%s) = %s, want %s (the hash before ETCD_INITIAL_CLUSTER_STATE)", node, got, want)
		}
	}
}
