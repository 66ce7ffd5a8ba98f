// Express 4, installed under an alias to test both majors; its API matches Express 5's types here.
declare module "express4" {
  import express from "express";
  export default express;
}
