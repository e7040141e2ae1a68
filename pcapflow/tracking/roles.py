"""Client and server: which endpoint of each conversation is which, and the evidence used.

First rule that applies (recorded in ``role_basis``):

1. ``syn``: the sender of the first SYN without ACK is the client;
2. ``syn_ack``: the sender of the first SYN+ACK is the server;
3. ``port``: the endpoint with the stronger service evidence is the server. A port below 1024
   (well known) beats one from 1024 to 49151 (registered range), which beats a dynamic one
   (49152 and up). For ICMP the "ports" are message types: the sender of a request type
   (echo request, timestamp request...) is the client;
4. ``first_packet``: otherwise the destination of the first packet is the server.

"First" compares the records that first showed each letter (a SYN and a SYN+ACK can come in
either order). The rules are applied by the compiled kernel that orients the tracker's columns
(``role_columns`` in ``pcapflow/_kernels/flowexport.pyx``), from what the flow table keeps per
conversation; the ICMP request types are those of :data:`pcapflow.protocols.ICMP_REQUESTS`.
"""

from __future__ import annotations

from pcapflow._kernels.constants import RoleBasis

#: What ``role_basis`` codes name, in code order.
ROLE_BASES = tuple(basis.name.removeprefix("ROLE_").lower() for basis in RoleBasis)
