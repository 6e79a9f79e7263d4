"""The app's environment variables: the inventory (`inventory`), the hosting guide's rules on
them (`rules`), the secrets they reference (`secret_refs`), dotenv files (`dotenv`), the
mapping from Terraform outputs (`from_terraform`) and the docs tables (`docs`)."""
