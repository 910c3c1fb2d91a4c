"""The shop side: sinks that hand codes to the shop (file, command, webhook) and code pools."""
