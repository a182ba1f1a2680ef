from vbauth.cli import main

main()
