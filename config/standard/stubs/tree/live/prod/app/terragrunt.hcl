terraform {
  source = "../../../modules//app"
}
