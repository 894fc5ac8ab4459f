# ipmi_sim command file (see ipmi_sim_cmd(5)): one BMC at 0x20.
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
mc_enable 0x20
