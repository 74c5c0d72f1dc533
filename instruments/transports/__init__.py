"""Transports drivers talk over: SCPI (pyvisa), Modbus, CAN, serial."""
