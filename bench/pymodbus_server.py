#!/usr/bin/python3
"""pymodbus's own Modbus TCP server serving a holding/input register block given on the command line.

The comparison point of bench/modbus_tcp_bench.cpp: what a user would otherwise script to emulate a
power chip. Usage: pymodbus_server.py PORT VALUE... (holding = input registers 0.. = VALUEs).
"""
import logging
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartTcpServer


def main() -> None:
    port = int(sys.argv[1])
    values = [int(v) for v in sys.argv[2:]] or [0] * 16
    logging.basicConfig(level=logging.ERROR)
    # pymodbus 3.0 data blocks are addressed from 1 for a request at 0 (zero_mode=False), so start at 1.
    block = lambda: ModbusSequentialDataBlock(1, list(values))  # noqa: E731
    slave = ModbusSlaveContext(hr=block(), ir=block(), zero_mode=False)
    StartTcpServer(context=ModbusServerContext(slaves=slave, single=True), address=("127.0.0.1", port))


if __name__ == "__main__":
    main()
