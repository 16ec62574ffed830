-- Lua configuration of PowerDNS Recursor on a cluster DNS server (replaces Debian's
-- /etc/powerdns/recursor.lua, see recursor.d/50-mesos-dns.conf).

-- DNSSEC root keys from dns-root-data, as Debian's file loads them.
dofile("/usr/share/pdns-recursor/lua-config/rootkeys.lua")

-- The Mesos domain does not exist in the public DNS and Mesos-DNS does not sign it: without a
-- negative trust anchor its answers would validate as bogus.
addNTA("@MESOS_DNS_DOMAIN@", "answered by Mesos-DNS, unsigned")
