/* net/wire.h: the headers on the wire, as byte layouts: Ethernet (IEEE
 * 802.3, with the 802.1Q tag), ARP for IPv4 over Ethernet (RFC 826), IPv4
 * (RFC 791), ICMP echo (RFC 792), UDP (RFC 768) and the BOOTP/DHCP message
 * (RFC 2131 section 2, options RFC 2132). Shared by the guest's stack (net/)
 * and the host's NetVSP device, built-in peer and DHCP server (host/).
 *
 * Every multi-byte field is a byte array in network order, read and written
 * with inet_get16/inet_put16 (net/inet.h) or memcpy: the structs have no
 * padding and no alignment needs, so they may overlay any received byte. A
 * struct is only laid over bytes whose length was checked against its size
 * (the _Static_asserts below pin the sizes and offsets to the references).
 */
#ifndef NET_WIRE_H
#define NET_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* ---- Ethernet ---------------------------------------------------------------------- */
/* Spelled exactly as <linux/if_ether.h> does, so host files that include
 * both (host/nettap.c) see identical redefinitions. */
#define ETH_ALEN 6
#define ETH_HLEN 14      /* sizeof(struct eth_hdr) */
#define ETH_P_IP 0x0800  /* EtherType IPv4 */
#define ETH_P_ARP 0x0806 /* EtherType ARP */
#define ETH_P_8021Q 0x8100
#define ETH_P_IPV6 0x86DD
#define ETH_VLAN_HLEN 18u                           /* with one 802.1Q tag */
#define ETH_VLAN_TAG_LEN (ETH_VLAN_HLEN - ETH_HLEN) /* 4: TPID and TCI */

struct eth_hdr {
  uint8_t eh_dst[ETH_ALEN];
  uint8_t eh_src[ETH_ALEN];
  uint8_t eh_type[2];
};
_Static_assert(sizeof(struct eth_hdr) == ETH_HLEN, "Ethernet header is 14 bytes");
_Static_assert(offsetof(struct eth_hdr, eh_type) == 12, "EtherType at 12");

/** The 802.1Q tag between the source address and the EtherType. */
struct eth_vlan_hdr {
  uint8_t ev_dst[ETH_ALEN];
  uint8_t ev_src[ETH_ALEN];
  uint8_t ev_tpid[2]; /* 0x8100 */
  uint8_t ev_tci[2];  /* priority (3 bits), DEI, VLAN id (12 bits) */
  uint8_t ev_type[2];
};
_Static_assert(sizeof(struct eth_vlan_hdr) == ETH_VLAN_HLEN, "tagged header is 18 bytes");
_Static_assert(offsetof(struct eth_vlan_hdr, ev_tci) == 14, "TCI at 14");

/* ---- ARP (Ethernet/IPv4) ------------------------------------------------------------ */
#define ARP_HRD_ETHER 1u
#define ARP_OP_REQUEST 1u
#define ARP_OP_REPLY 2u

struct arp_pkt {
  uint8_t ar_hrd[2]; /* 1: Ethernet */
  uint8_t ar_pro[2]; /* 0x0800 */
  uint8_t ar_hln;    /* 6 */
  uint8_t ar_pln;    /* 4 */
  uint8_t ar_op[2];
  uint8_t ar_sha[ETH_ALEN];
  uint8_t ar_spa[4];
  uint8_t ar_tha[ETH_ALEN];
  uint8_t ar_tpa[4];
};
_Static_assert(sizeof(struct arp_pkt) == 28, "ARP for IPv4 over Ethernet is 28 bytes");
_Static_assert(offsetof(struct arp_pkt, ar_op) == 6, "ARP op at 6");
_Static_assert(offsetof(struct arp_pkt, ar_sha) == 8, "ARP sha at 8");
_Static_assert(offsetof(struct arp_pkt, ar_spa) == 14, "ARP spa at 14");
_Static_assert(offsetof(struct arp_pkt, ar_tha) == 18, "ARP tha at 18");
_Static_assert(offsetof(struct arp_pkt, ar_tpa) == 24, "ARP tpa at 24");
#define ARP_FRAME_LEN (ETH_HLEN + 28u) /* 42: an ARP frame without padding */

/* ---- IPv4 ---------------------------------------------------------------------------- */
#define IPV4_HLEN 20u /* without options */
#define IPV4_VERSION 4u
#define IPV4_VHL_NOOPT 0x45u /* ih_vhl: version 4, 5 32-bit words (no options) */
#define IP_PROTO_ICMP 1u
#define IP_PROTO_UDP 17u
#define IPV4_FRAG_MASK 0x3fffu /* MF flag and fragment offset */
/* ih_ttl of what this stack and the host's peer send: RFC 1700's default,
 * Linux's net.ipv4.ip_default_ttl. */
#define IPV4_DEFAULT_TTL 64u

struct ipv4_hdr {
  uint8_t ih_vhl; /* version 4, header length in 32-bit words */
  uint8_t ih_tos;
  uint8_t ih_len[2]; /* total length */
  uint8_t ih_id[2];
  uint8_t ih_frag[2];
  uint8_t ih_ttl;
  uint8_t ih_proto;
  uint8_t ih_csum[2];
  uint8_t ih_src[4];
  uint8_t ih_dst[4];
};
_Static_assert(sizeof(struct ipv4_hdr) == IPV4_HLEN, "IPv4 header is 20 bytes");
_Static_assert(offsetof(struct ipv4_hdr, ih_proto) == 9, "protocol at 9");
_Static_assert(offsetof(struct ipv4_hdr, ih_csum) == 10, "checksum at 10");
_Static_assert(offsetof(struct ipv4_hdr, ih_src) == 12, "source at 12");
_Static_assert(offsetof(struct ipv4_hdr, ih_dst) == 16, "destination at 16");

/* ---- ICMP echo ----------------------------------------------------------------------- */
#define ICMP_ECHO_REPLY 0u
#define ICMP_ECHO_REQUEST 8u

struct icmp_echo {
  uint8_t ic_type;
  uint8_t ic_code;
  uint8_t ic_csum[2];
  uint8_t ic_id[2];
  uint8_t ic_seq[2];
};
#define ICMP_ECHO_HLEN 8u
_Static_assert(sizeof(struct icmp_echo) == ICMP_ECHO_HLEN, "ICMP echo header is 8 bytes");

/* ---- UDP ----------------------------------------------------------------------------- */
#define UDP_HLEN 8u

struct udp_hdr {
  uint8_t uh_sport[2];
  uint8_t uh_dport[2];
  uint8_t uh_len[2];
  uint8_t uh_csum[2];
};
_Static_assert(sizeof(struct udp_hdr) == UDP_HLEN, "UDP header is 8 bytes");

/* ---- BOOTP / DHCP -------------------------------------------------------------------- */
#define DHCP_SERVER_PORT 67u
#define DHCP_CLIENT_PORT 68u
#define BOOTP_REQUEST 1u
#define BOOTP_REPLY 2u
#define BOOTP_FLAG_BROADCAST 0x8000u
#define DHCP_MAGIC 0x63825363u
#define DHCP_FIXED_LEN 236u /* op .. file */
#define DHCP_OPTS_OFF 240u  /* after the magic cookie */
#define DHCP_MIN_LEN 300u   /* a BOOTP message is at least this long (RFC 951) */

struct dhcp_msg {
  uint8_t dm_op, dm_htype, dm_hlen, dm_hops;
  uint8_t dm_xid[4];
  uint8_t dm_secs[2];
  uint8_t dm_flags[2];
  uint8_t dm_ciaddr[4];
  uint8_t dm_yiaddr[4];
  uint8_t dm_siaddr[4];
  uint8_t dm_giaddr[4];
  uint8_t dm_chaddr[16];
  uint8_t dm_sname[64];
  uint8_t dm_file[128];
  uint8_t dm_magic[4];
  /* options follow */
};
_Static_assert(sizeof(struct dhcp_msg) == DHCP_OPTS_OFF, "fixed part + cookie is 240 bytes");
_Static_assert(offsetof(struct dhcp_msg, dm_xid) == 4, "xid at 4");
_Static_assert(offsetof(struct dhcp_msg, dm_flags) == 10, "flags at 10");
_Static_assert(offsetof(struct dhcp_msg, dm_ciaddr) == 12, "ciaddr at 12");
_Static_assert(offsetof(struct dhcp_msg, dm_yiaddr) == 16, "yiaddr at 16");
_Static_assert(offsetof(struct dhcp_msg, dm_chaddr) == 28, "chaddr at 28");
_Static_assert(offsetof(struct dhcp_msg, dm_sname) == 44, "sname at 44");
_Static_assert(offsetof(struct dhcp_msg, dm_file) == 108, "file at 108");
_Static_assert(offsetof(struct dhcp_msg, dm_magic) == DHCP_FIXED_LEN, "cookie at 236");

/* Options (RFC 2132) */
#define DHO_PAD 0u
#define DHO_SUBNET_MASK 1u
#define DHO_ROUTER 3u
#define DHO_DNS 6u
#define DHO_HOSTNAME 12u
#define DHO_MTU 26u
#define DHO_REQUESTED_IP 50u
#define DHO_LEASE_TIME 51u
#define DHO_OVERLOAD 52u
#define DHO_MSG_TYPE 53u
#define DHO_SERVER_ID 54u
#define DHO_PARAM_LIST 55u
#define DHO_MAX_MSG_SIZE 57u
#define DHO_T1 58u
#define DHO_T2 59u
#define DHO_CLIENT_ID 61u
#define DHO_END 255u

/* Message types (option 53) */
#define DHCPDISCOVER 1u
#define DHCPOFFER 2u
#define DHCPREQUEST 3u
#define DHCPDECLINE 4u
#define DHCPACK 5u
#define DHCPNAK 6u
#define DHCPRELEASE 7u

/* Option 52 values */
#define DHCP_OVERLOAD_FILE 1u
#define DHCP_OVERLOAD_SNAME 2u

#endif
