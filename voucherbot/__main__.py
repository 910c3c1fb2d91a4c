from voucherbot.cli.main import main

main()
