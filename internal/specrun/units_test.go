package specrun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

func TestServices(t *testing.T) {
	root := fixture(t)
	tests := []struct {
		unit, state string
		want        outcome
	}{
		{"ssh.service", "enabled", ok("unit ssh.service: enabled (symlink in multi-user.target.wants)")},
		{"ssh.service", "disabled", fail("unit ssh.service: want disabled, is enabled (symlink in multi-user.target.wants)")},
		{"ssh.service", "masked", fail("unit ssh.service: want masked, is enabled (symlink in multi-user.target.wants)")},
		{"sshd.service", "enabled", ok("unit sshd.service: enabled (symlink ssh.service in multi-user.target.wants, as an alias of ssh.service)")},
		{"apt-daily.timer", "masked", fail("unit apt-daily.timer: want masked, is enabled (symlink in timers.target.wants)")},
		{"apt-daily-upgrade.timer", "masked", ok("unit apt-daily-upgrade.timer: masked (symlink to /dev/null in /etc/systemd/system)")},
		{"apt-daily-upgrade.timer", "enabled", fail("unit apt-daily-upgrade.timer: want enabled, is masked (symlink to /dev/null in /etc/systemd/system)")},
		{"systemd-networkd.service", "enabled", fail("unit systemd-networkd.service: want enabled, is disabled (no symlink to it in a .wants/ or .requires/ directory of /etc/systemd/system)")},
		{"systemd-networkd.service", "disabled", ok("unit systemd-networkd.service: disabled (no symlink to it in a .wants/ or .requires/ directory of /etc/systemd/system)")},
		{"systemd-resolved.service", "enabled", ok("unit systemd-resolved.service: enabled (alias dbus-org.freedesktop.resolve1.service in /etc/systemd/system)")},
		{"mesos-slave.service", "masked", fail("unit mesos-slave.service: want masked, is disabled (no symlink to it in a .wants/ or .requires/ directory of /etc/systemd/system)")},

		// instances and templates
		{"getty@tty1.service", "enabled", ok("unit getty@tty1.service: enabled (symlink in getty.target.wants)")},
		{"getty@tty2.service", "enabled", fail("unit getty@tty2.service: want enabled, is disabled (no symlink to it in a .wants/ or .requires/ directory of /etc/systemd/system)")},
		{"getty@tty4.service", "masked", ok("unit getty@tty4.service: masked (symlink to /dev/null in /etc/systemd/system)")},
		{"getty@.service", "enabled", ok("unit getty@.service: enabled (symlink getty@tty1.service in getty.target.wants)")},

		// static units: a package's own .wants/ link enables them; without one they are disabled
		{"systemd-update-done.service", "enabled", fail("unit systemd-update-done.service: want enabled, is disabled (static: no [Install] section, and no .wants/ or .requires/ link pulls it in)")},
		{"systemd-update-done.service", "disabled", ok("unit systemd-update-done.service: disabled (static: no [Install] section, and no .wants/ or .requires/ link pulls it in)")},
		{"remote-cryptsetup.target", "enabled", fail("unit remote-cryptsetup.target: want enabled, is disabled (no symlink to it in a .wants/ or .requires/ directory of /etc/systemd/system)")},

		// masks
		{"systemd-logind.service", "enabled", fail("unit systemd-logind.service: want enabled, is masked (symlink to /dev/null in /etc/systemd/system)")},
		{"dbus-org.freedesktop.login1.service", "masked", ok("unit dbus-org.freedesktop.login1.service: masked (symlink to /dev/null in /etc/systemd/system)")},
		{"hwclock.service", "masked", ok("unit hwclock.service: masked (symlink to /dev/null in /usr/lib/systemd/system)")},
		{"empty.service", "masked", ok("unit empty.service: masked (/usr/lib/systemd/system/empty.service is empty)")},

		// no unit
		{"nope.service", "disabled", fail("unit nope.service: want disabled, no such unit (not in /etc/systemd/system, /usr/lib/systemd/system)")},
		{"broken.service", "enabled", fail("unit broken.service: want enabled, no such unit (/etc/systemd/system/broken.service is a link to /opt/nowhere.service, which does not exist)")},
	}
	for _, tt := range tests {
		t.Run(tt.unit+" "+tt.state, func(t *testing.T) {
			spec := &model.ImageSpec{Services: []model.ServiceSpec{{Unit: v(tt.unit, 20), State: v(tt.state, 21)}}}
			rep := check(t, spec, Target{Root: root}, tt.want)
			wantLine := 21
			if strings.HasPrefix(rep.Results[0].Got, "no such unit") {
				wantLine = 20 // a missing unit is the unit line's fault
			}
			if got := rep.Results[0].Pos.Line; got != wantLine {
				t.Errorf("result at line %d, want %d", got, wantLine)
			}
		})
	}
}

// TestStaticUnitPulledInByPackage is the choice this package makes for static units: a link a
// package ships under /usr/lib makes one enabled, as it starts at boot. Units with an [Install]
// section are enabled only by links in /etc, as systemctl says.
func TestStaticUnitPulledInByPackage(t *testing.T) {
	root := fixture(t)
	// systemd-logind is masked in the fixture; without the mask, its package's link enables it.
	spec := &model.ImageSpec{Services: []model.ServiceSpec{
		{Unit: v("systemd-logind.service", 20), State: v("enabled", 21)},
	}}
	if err := os.Remove(filepath.Join(root, "etc/systemd/system/systemd-logind.service")); err != nil {
		t.Fatal(err)
	}
	check(t, spec, Target{Root: root},
		ok("unit systemd-logind.service: enabled (symlink in /usr/lib/systemd/system/multi-user.target.wants)"))
}

func TestTemplate(t *testing.T) {
	tests := []struct {
		name, template string
		instance       bool
	}{
		{"getty@tty1.service", "getty@.service", true},
		{"serial-getty@ttyS0.service", "serial-getty@.service", true},
		{"getty@.service", "", false},
		{"ssh.service", "", false},
		{"systemd-fsck@dev-disk-by\\x2duuid-1234.service", "systemd-fsck@.service", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, instance := template(tt.name)
			if got != tt.template || instance != tt.instance {
				t.Errorf("got %q, %v; want %q, %v", got, instance, tt.template, tt.instance)
			}
		})
	}
}

func TestServicesWithoutSystemd(t *testing.T) {
	spec := &model.ImageSpec{Services: []model.ServiceSpec{{Unit: v("ssh.service", 20), State: v("enabled", 21)}}}
	check(t, spec, Target{Root: t.TempDir()},
		fail("unit ssh.service: want enabled, no such unit (the image has no unit directory: no /etc/systemd/system nor /usr/lib/systemd/system)"))
}
