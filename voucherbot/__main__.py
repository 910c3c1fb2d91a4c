from voucherbot.cli import main

main()
